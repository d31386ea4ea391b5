"""The ``tasks`` click group: run, watch, status, list, cancel and names.

Every command works in-process on the app's store, or with ``--url`` over the HTTP API of
a running server; each takes ``--json`` for machine-readable output.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from ..options import MAX_PRIORITY, MAX_RETRIES, SubmitOptions
from ..records import State, TaskRecord
from .arguments import parse_arguments
from .backends import Backend, RemoteBackend
from .display import format_names, format_record, format_table
from .execution import Options, Output, execute, follow_to_end, report_outcome
from .local import LocalBackend
from .moments import duration_option, moment_option

__all__ = ["common_options", "tasks_cli"]

tasks_cli = click.Group(
    "tasks",
    help="""Start, watch, list and cancel tracked tasks.

    Without --url the commands work in this process, directly on the app's store
    (TASKS_DATABASE). With --url (or QUART_TASKS_URL) they use the HTTP API of a running
    server.

    Exit status: 0 the task succeeded (or the command is done); 1 the task failed or was
    cancelled; 2 a usage error, an unknown task or id, bad arguments, or an unreachable
    server.
    """,
)


def common_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add --url, --token, --json and --verbose, handed to the command as one ``options``."""

    @click.option(
        "--url",
        envvar="QUART_TASKS_URL",
        show_envvar=True,
        metavar="URL",
        help="Use the HTTP API of the server at URL (http://host:port) instead of the store.",
    )
    @click.option(
        "--token",
        envvar="QUART_TASKS_API_TOKEN",
        show_envvar=True,
        metavar="TOKEN",
        help="The server's API token (TASKS_API_TOKEN), sent with --url.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @click.option(
        "-v", "--verbose", is_flag=True, help="Show the tasks log (with tracebacks) on stderr."
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        url: str | None,
        token: str | None,
        as_json: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> None:
        command(*args, options=Options(url or None, as_json, verbose, token or None), **kwargs)

    return wrapper


# -- the commands ------------------------------------------------------------------------


@tasks_cli.command("run")
@click.argument("name")
@click.argument("arguments", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--wait", is_flag=True, help="Run the task and show its progress until it ends.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one attempt may take (overrides the task's own).",
)
@click.option(
    "--retries", type=click.IntRange(0, MAX_RETRIES), help="Extra attempts after a failure."
)
@click.option(
    "--in",
    "delay",
    metavar="DURATION",
    callback=duration_option,
    help="Run it after this long (30s, 5m, 1h30m, or seconds); stored scheduled until then.",
)
@click.option(
    "--at",
    "at",
    metavar="MOMENT",
    callback=moment_option,
    help="Run it at this moment (ISO 8601 with its offset, 2030-01-01T09:00:00+01:00).",
)
@click.option(
    "--key",
    metavar="KEY",
    help="An idempotency key: run again with the same key, the first task comes back.",
)
@click.option(
    "--priority",
    type=click.IntRange(-MAX_PRIORITY, MAX_PRIORITY),
    help="Higher runs first among the waiting tasks of its queue (overrides the task's own).",
)
@common_options
def run_command(
    name: str,
    arguments: tuple[str, ...],
    wait: bool,
    timeout: float | None,
    retries: int | None,
    delay: float | None,
    at: datetime | None,
    key: str | None,
    priority: int | None,
    options: Options,
) -> None:
    """Start task NAME with KEY=VALUE arguments and print its id.

    Each VALUE is read as JSON where it parses (n=5 is a number, flag=true a boolean,
    'tags=["a","b"]' a list) and as text otherwise (msg=hi).

    Without --url and without --wait, the task is stored queued in the app's store and the
    command returns at once: a server sharing that store runs it (a running server picks it
    up within about a second, otherwise the next server start does). With --wait it runs
    here, in this process, and the command shows its progress until it ends (Ctrl-C cancels
    it). With --url the server runs it; --wait then follows it.

    --in or --at store it scheduled, to run then (in --url mode or without --wait). --key
    makes it idempotent: run again with the same key, the command prints the first task.
    """
    kwargs = parse_arguments(arguments)
    if delay is not None and at is not None:
        raise click.UsageError("give --in or --at, not both")

    def submit_options() -> SubmitOptions:
        return SubmitOptions(
            timeout=timeout, retries=retries, delay=delay, at=at, key=key, priority=priority
        )

    def check(backend: Backend) -> None:
        checked = submit_options()  # a bad option is refused before anything starts
        if isinstance(backend, LocalBackend):
            backend.check_submit(name, kwargs, checked, wait=wait)

    async def action(backend: Backend, out: Output) -> int:
        submitted = await backend.submit(name, kwargs, submit_options(), wait=wait)
        record = submitted.record
        if submitted.replayed:
            out.note(f"task {record.id} already had the key {key!r}: it is the one shown")
        if not wait:
            if out.as_json:
                out.json(record.to_dict())
            else:
                out.line(record.id)
                out.note(_where_it_runs(backend, record))
            return 0
        out.note(f"started {record.name}: {record.id}")
        return report_outcome(await follow_to_end(backend, record.id, out), out)

    execute(options, action, serve=True, check=check)


@tasks_cli.command("watch")
@click.argument("task_id", metavar="ID")
@common_options
def watch_command(task_id: str, options: Options) -> None:
    """Show the progress of task ID until it ends, then its result or error."""

    async def action(backend: Backend, out: Output) -> int:
        return report_outcome(await follow_to_end(backend, task_id, out), out)

    execute(options, action)


@tasks_cli.command("status")
@click.argument("task_id", metavar="ID")
@common_options
def status_command(task_id: str, options: Options) -> None:
    """Show task ID: its state, progress, result or error, and times."""

    async def action(backend: Backend, out: Output) -> int:
        record = await backend.get(task_id)
        if out.as_json:
            out.json(record.to_dict())
        else:
            out.line(format_record(record))
        return 0

    execute(options, action)


@tasks_cli.command("list")
@click.option("--state", type=click.Choice([state.value for state in State]), help="Only these.")
@click.option("--name", help="Only tasks of this name.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@common_options
def list_command(state: str | None, name: str | None, limit: int, options: Options) -> None:
    """List tasks, newest first."""

    async def action(backend: Backend, out: Output) -> int:
        records = await backend.query(
            state=State(state) if state else None, name=name or None, limit=limit
        )
        if out.as_json:
            out.json({"tasks": [record.to_dict() for record in records]})
        elif records:
            out.line(format_table(records))
        else:
            out.note("no tasks")
        return 0

    execute(options, action)


@tasks_cli.command("cancel")
@click.argument("task_id", metavar="ID")
@common_options
def cancel_command(task_id: str, options: Options) -> None:
    """Cancel task ID, whether it waits or runs.

    Without --url the request goes through the store: a task nobody holds ends at once, and
    the server process holding a task stops it within its poll interval (about a second).
    """

    async def action(backend: Backend, out: Output) -> int:
        record = await backend.cancel(task_id)
        if out.as_json:
            out.json(record.to_dict())
        elif record.state is State.CANCELLED:
            out.line(f"cancelled {record.name}: {record.id}")
        else:
            out.line(
                f"asked {record.name} ({record.id}) to stop; it is still {record.state.value}: "
                "thread work stops at its next cancellation check"
            )
        return 0

    execute(options, action)


@tasks_cli.command("names")
@common_options
def names_command(options: Options) -> None:
    """List the registered tasks with their parameters."""

    async def action(backend: Backend, out: Output) -> int:
        names = await backend.names()
        if out.as_json:
            out.json({"names": names})
        else:
            out.line(format_names(names))
        return 0

    execute(options, action)


def _where_it_runs(backend: Backend, record: TaskRecord) -> str:
    if record.state.terminal:  # a replayed key: the task it names has already ended
        return f"{record.name} has already ended: {record.state}"
    if record.state is State.RUNNING:
        return f"{record.name} is running; follow it with `tasks watch {record.id}`"
    if record.state is State.SCHEDULED:
        when = record.to_dict()["run_at"]
        where = (
            "on the server"
            if isinstance(backend, RemoteBackend)
            else "by a server sharing the store"
        )
        return f"{record.name} is scheduled for {when}: it runs then, {where}"
    if isinstance(backend, RemoteBackend):
        return (
            f"{record.name} runs on {backend.client.url}; follow it with `tasks watch {record.id}`"
        )
    return (
        f"{record.name} is queued in the store: a server sharing it runs it (a running one "
        "within about a second, else the next one to start)"
    )
