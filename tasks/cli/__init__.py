"""The ``tasks`` command group for Quart's command line.

Add it to an app that uses the :class:`~tasks.Tasks` extension::

    from tasks.cli import tasks_cli

    app.cli.add_command(tasks_cli)

and then ``quart --app "module:create_app()" tasks run NAME KEY=VALUE --wait``.
"""

from . import maintenance, schedule_command, worker  # noqa: F401  (add prune, schedules, worker)
from .arguments import parse_arguments
from .commands import tasks_cli

__all__ = ["parse_arguments", "tasks_cli"]
