"""The example tasks this app registers."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from tasks import Registry, TaskRecord, current_task

registry = Registry()

Seconds = Annotated[float, Field(ge=0, le=86_400)]


@registry.task(idempotent=True)
def sleep(seconds: Seconds) -> float:
    """Block a worker thread for ``seconds`` with ``time.sleep``, stopping early if cancelled."""
    task = current_task()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        task.raise_if_cancelled()
        time.sleep(min(left, 0.1))  # short naps keep cancellation cooperative
        elapsed = min(seconds, seconds - (deadline - time.monotonic()))
        task.progress(round(elapsed, 2), seconds, "sleeping")
    return seconds


@registry.task(idempotent=True)
async def count(n: Annotated[int, Field(ge=0, le=1_000_000)], interval: Seconds = 0.1) -> int:
    """Count to ``n``, one step every ``interval`` seconds, reporting progress."""
    task = current_task()
    for step in range(1, n + 1):
        await asyncio.sleep(interval)
        task.progress(step, n)
    return n


@registry.task()
async def fail(message: str = "this task always fails") -> None:
    """Always raise, to show the failed state."""
    raise RuntimeError(message)


@registry.task(idempotent=True)
async def noop() -> None:
    """Do nothing; measures the cost of tracking a task."""


#: rows one export may write: about 30 MB, so that one request cannot fill the disk
MAX_EXPORT_ROWS = 1_000_000


def remove_export(record: TaskRecord) -> None:
    """Delete the CSV an export wrote, when retention deletes the export's record."""
    if isinstance(record.result, dict) and isinstance(record.result.get("path"), str):
        Path(record.result["path"]).unlink(missing_ok=True)


@registry.task(timeout=600, cleanup=remove_export)
def export(rows: Annotated[int, Field(ge=1, le=MAX_EXPORT_ROWS)] = 100_000) -> dict[str, Any]:
    """Write a CSV report of ``rows`` rows to the instance folder; returns its path and size."""
    from quart import current_app

    task = current_task()
    folder = Path(current_app.instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task.id}.csv"
    try:
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["row", "square", "label"])
            for row in range(1, rows + 1):
                writer.writerow([row, row * row, f"item-{row:07d}"])
                if row % 10_000 == 0 or row == rows:
                    task.raise_if_cancelled()
                    task.progress(row, rows, "rows written")
    except BaseException:
        path.unlink(missing_ok=True)  # a failed or cancelled export leaves no partial file
        raise
    return {"path": str(path), "rows": rows, "bytes": path.stat().st_size}
