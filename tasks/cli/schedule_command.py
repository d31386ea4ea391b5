"""``tasks schedules``: the periodic tasks, with their last and next runs."""

from __future__ import annotations

from typing import Any

from .backends import Backend
from .commands import common_options, tasks_cli
from .execution import Options, Output, execute

__all__ = ["format_schedules", "schedules_command"]


@tasks_cli.command("schedules")
@common_options
def schedules_command(options: Options) -> None:
    """List the periodic tasks: when each runs, its last run and its next one."""

    async def action(backend: Backend, out: Output) -> int:
        schedules = await backend.schedules()
        if out.as_json:
            out.json({"schedules": schedules})
        elif schedules:
            out.line(format_schedules(schedules))
        else:
            out.note("no periodic tasks: declare one with @registry.task(every=...) or cron=...")
        return 0

    execute(options, action)


def format_schedules(schedules: list[dict[str, Any]]) -> str:
    """Schedules as aligned columns: name, when, last run, its state, next run."""
    rows = [("NAME", "WHEN", "LAST RUN", "STATE", "NEXT RUN")]
    for item in schedules:
        if item["every"] is not None:
            when = f"every {item['every']:g} s"
        else:
            when = f"cron {item['cron']}" + (
                f" ({item['timezone']})" if item["timezone"] != "UTC" else ""
            )
        last = item["last_run"] or {}
        state = last.get("state") or ("skipped" if last and last.get("task_id") is None else "-")
        rows.append((item["name"], when, last.get("tick") or "-", state, item["next_run"]))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
