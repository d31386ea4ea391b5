"""``tasks queues``, ``tasks pause NAME`` and ``tasks resume NAME``: the queues of the app's
tasks, and stopping and starting one for every process sharing the store."""

from __future__ import annotations

from typing import Any

import click

from .backends import Backend
from .commands import common_options, tasks_cli
from .execution import Options, Output, execute

__all__ = ["format_queues", "pause_command", "queues_command", "resume_command"]


@tasks_cli.command("queues")
@common_options
def queues_command(options: Options) -> None:
    """List the queues of the app's tasks: paused or not, how many of their tasks wait and
    run (in every process sharing the store), and the tasks in each."""

    async def action(backend: Backend, out: Output) -> int:
        queues = await backend.queues()
        if out.as_json:
            out.json({"queues": queues})
        else:
            out.line(format_queues(queues))
        return 0

    execute(options, action)


@tasks_cli.command("pause")
@click.argument("name")
@common_options
def pause_command(name: str, options: Options) -> None:
    """Pause queue NAME: no process sharing the store starts a task of it until `tasks
    resume NAME`, across restarts.

    Its running tasks finish; new ones are accepted and wait queued.
    """

    async def action(backend: Backend, out: Output) -> int:
        queue = await backend.pause(name)
        if out.as_json:
            out.json(queue)
        else:
            out.line(f"paused {queue['name']}: {_counts(queue)}")
            if queue["running"]:
                out.note("its running tasks finish; no other starts until it is resumed")
        return 0

    execute(options, action)


@tasks_cli.command("resume")
@click.argument("name")
@common_options
def resume_command(name: str, options: Options) -> None:
    """Resume queue NAME: its waiting tasks start again, the highest priority first."""

    async def action(backend: Backend, out: Output) -> int:
        queue = await backend.resume(name)
        if out.as_json:
            out.json(queue)
        else:
            out.line(f"resumed {queue['name']}: {_counts(queue)}")
        return 0

    execute(options, action)


def _counts(queue: dict[str, Any]) -> str:
    return f"{queue['waiting']} waiting, {queue['running']} running"


def format_queues(queues: list[dict[str, Any]]) -> str:
    """Queues as aligned columns: name, state, waiting and running tasks, task names; then
    the limits of their tasks."""
    rows = [("NAME", "STATE", "WAITING", "RUNNING", "TASKS")]
    for queue in queues:
        state = "paused" if queue["paused"] else "running"
        counts = (str(queue["waiting"]), str(queue["running"]))
        rows.append((queue["name"], state, *counts, ", ".join(queue["tasks"])))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    limits = [limit for queue in queues for limit in queue.get("limits", ())]
    if limits:
        lines += ["", "LIMITS (across every process)"]
        lines += [f"{limit['task']}: {describe_limit(limit)}" for limit in limits]
    return "\n".join(lines)


def describe_limit(limit: dict[str, Any]) -> str:
    """``"at most 1 running per tenant, 10/s"``."""
    parts = []
    if limit["concurrency"] is not None:
        key = limit["concurrency_key"]
        parts.append(f"at most {limit['concurrency']} running" + (f" per {key}" if key else ""))
    if limit["rate_limit"] is not None:
        parts.append(f"at most {limit['rate_limit']} starts")
    return ", ".join(parts)
