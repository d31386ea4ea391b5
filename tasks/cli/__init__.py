"""The ``tasks`` command group for Quart's command line.

Installing the package makes it a command of every app's ``quart`` (the ``quart.commands``
entry point), so that in an app that uses the :class:`~tasks.Tasks` extension::

    quart --app "module:create_app()" tasks run NAME KEY=VALUE --wait

works without wiring. ``app.cli.add_command(tasks_cli)`` adds the same group by hand.
"""

# each adds its commands: prune; queues, pause and resume; schedules; worker
from . import maintenance, queue_commands, schedule_command, worker  # noqa: F401
from .arguments import parse_arguments
from .commands import tasks_cli

__all__ = ["parse_arguments", "tasks_cli"]
