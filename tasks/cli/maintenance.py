"""``tasks prune``: delete finished records now, as retention does on its own."""

from __future__ import annotations

import click

from ..app import retention
from ..records import State
from ..store import FINISHED_STATES
from .backends import Backend, CommandError
from .commands import common_options, tasks_cli
from .execution import Options, Output, execute
from .local import LocalBackend

__all__ = ["prune_command"]


@tasks_cli.command("prune")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Delete records that finished more than SECONDS ago [default: TASKS_RETENTION].",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(sorted(state.value for state in FINISHED_STATES)),
    help="Only records in this state (repeat for several) [default: every finished state].",
)
@common_options
def prune_command(older_than: float | None, states: tuple[str, ...], options: Options) -> None:
    """Delete finished tasks' records from the store and print how many.

    Queued and running tasks are never deleted. The app's sweepers (``@registry.sweeper``)
    run afterwards. This works on the app's store (not with --url); servers sharing the
    store go on as before.
    """

    def check(backend: Backend) -> None:
        if not isinstance(backend, LocalBackend):
            raise CommandError("prune works on the app's store; run it without --url")
        if older_than is None and not backend.tasks.settings.retention:
            raise click.UsageError("TASKS_RETENTION is 0 (keep everything): pass --older-than")

    async def action(backend: Backend, out: Output) -> int:
        assert isinstance(backend, LocalBackend)
        seconds = backend.tasks.settings.retention if older_than is None else older_than
        chosen = frozenset(State(state) for state in states) or FINISHED_STATES
        deleted = await retention.prune(
            backend.store, backend.tasks.registry, retention.cutoff(seconds), states=chosen
        )
        await retention.sweep(backend.tasks.registry, backend.store.get)
        if out.as_json:
            out.json({"deleted": deleted})
        else:
            out.line(str(deleted))
            out.note(f"deleted {deleted} finished records older than {seconds:g} s")
        return 0

    execute(options, action, check=check)
