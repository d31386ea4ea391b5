"""Running one command: choose where it acts, run it with ``asyncio.run``, exit with a status.

Quart runs no ``async def`` click command, so each command hands a coroutine function to
:func:`execute`. Errors become a one-line message and exit status 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any

import click
from quart import Quart
from quart.cli import NoAppException, ScriptInfo

from ..app.extension import Tasks
from ..errors import TasksError
from ..records import State, TaskRecord
from .backends import Backend, CommandError, RemoteBackend
from .display import ProgressDisplay, format_result
from .local import LocalBackend

__all__ = ["INTERRUPTED", "Options", "Output", "execute", "follow_to_end", "report_outcome"]

log = logging.getLogger("tasks")

#: exit status of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130

_HINTS = {
    "task_not_found": "`tasks list` shows the recent ids",
    "invalid_arguments": "`tasks names` shows each task's parameters",
    "not_found": "check that --url is the address of a tasks server",
}


@dataclass(frozen=True, slots=True)
class Options:
    """The options every command takes."""

    url: str | None
    as_json: bool
    verbose: bool
    #: the server's API token, for --url
    token: str | None = None


class Output:
    """Where a command writes: results on stdout, notes, progress and errors on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2))

    def line(self, text: str) -> None:
        click.echo(text)

    def note(self, text: str, *, always: bool = False) -> None:
        """A remark for a person; left out of --json output unless ``always``."""
        if always or not self.as_json:
            click.echo(text, err=True)

    def error(self, code: str, message: str) -> None:
        click.secho(f"Error: {message}", err=True, fg="red")
        if self.as_json:
            self.json({"error": {"code": code, "message": message}})

    def progress(self) -> ProgressDisplay | None:
        """A bar on a terminal, plain lines elsewhere; nothing for --json into a pipe."""
        stream = sys.stderr
        tty = stream.isatty()
        if self.as_json and not tty:
            return None
        return ProgressDisplay(stream, tty=tty, width=_terminal_width(stream.fileno) if tty else 80)


Action = Callable[[Backend, Output], Awaitable[int]]


def execute(
    options: Options,
    action: Action,
    *,
    serve: bool = False,
    check: Callable[[Backend], None] | None = None,
) -> None:
    """Run ``action`` on the right backend and exit with its status; errors exit 2, one line."""
    out = Output(options.as_json)
    code = 2
    try:
        app = _find_app(required=options.url is None)
        with _logs_quieted(app, unless=options.verbose):
            backend = _backend(app, options, serve=serve)
            if check is not None:
                check(backend)
            code = asyncio.run(_act(backend, action, out))
    except KeyboardInterrupt:
        code = INTERRUPTED
    except TasksError as exc:
        hint = _HINTS.get(exc.code)
        out.error(exc.code, f"{exc.message}; {hint}" if hint else exc.message)
    except click.ClickException:
        raise
    except Exception as exc:
        log.debug("the command failed", exc_info=True)
        out.error("unexpected_error", f"{type(exc).__name__}: {exc}")
    click.get_current_context().exit(code)


async def _act(backend: Backend, action: Action, out: Output) -> int:
    async with backend:
        return await action(backend, out)


def _backend(app: Quart | None, options: Options, *, serve: bool) -> Backend:
    tasks = _extension(app) if app is not None else None
    url = options.url or (tasks.settings.url if tasks is not None else "")
    if url:
        from ..client import TasksClient, check_url  # httpx loads only when a server is asked

        try:
            token = options.token or (tasks.settings.api_token if tasks is not None else "")
            return RemoteBackend(TasksClient(check_url(url), token=token or None))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--url'") from None
    assert app is not None
    assert tasks is not None
    return LocalBackend(app, tasks, serve=serve)


def _find_app(*, required: bool) -> Quart | None:
    """The app that ``--app`` / ``QUART_APP`` names, through Quart's ScriptInfo."""
    info = click.get_current_context().find_object(ScriptInfo)
    try:
        if info is None:
            raise NoAppException("no Quart app is loaded")
        return info.load_app()
    except NoAppException as exc:
        if not required:
            return None
        raise CommandError(
            f"{exc.format_message()}; or pass --url to use a running server"
        ) from None


def _extension(app: Quart) -> Tasks:
    tasks = app.extensions.get("tasks")
    if not isinstance(tasks, Tasks):
        raise CommandError(
            f"the app {app.name!r} does not use the tasks extension; add Tasks(app, registry=...)"
        )
    return tasks


@contextmanager
def _logs_quieted(app: Quart | None, *, unless: bool) -> Iterator[None]:
    """Keep the tasks and app logs off the terminal: the command reports outcomes itself."""
    loggers = [logging.getLogger("tasks"), *([app.logger] if app is not None else [])]
    levels = [logger.level for logger in loggers]
    if not unless:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def follow_to_end(backend: Backend, task_id: str, out: Output) -> TaskRecord:
    display = out.progress()
    final: TaskRecord | None = None
    try:
        async with aclosing(backend.follow(task_id)) as updates:
            async for record in updates:
                if display is not None:
                    display.update(record)
                final = record
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels the command's coroutine
        if display is not None:
            display.finish()
        out.note(f"interrupted: {await backend.interrupted(task_id)}", always=True)
        raise
    finally:
        if display is not None:
            display.finish()
    assert final is not None
    assert final.state.terminal
    return final


def report_outcome(record: TaskRecord, out: Output) -> int:
    if out.as_json:
        out.json(record.to_dict())
    if record.state is State.SUCCEEDED:
        if not out.as_json:
            out.line(format_result(record.result))
        return 0
    if record.state is State.FAILED and record.error is not None:
        reason = f"failed: {record.error.type}: {record.error.message}"
    else:
        reason = f"was {record.state.value}"
    click.secho(f"task {record.name} ({record.id}) {reason}", err=True, fg="red")
    return 1


def _terminal_width(fileno: Callable[[], int]) -> int:
    try:
        columns = os.get_terminal_size(fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or 80  # a pseudo-terminal may report no size at all
