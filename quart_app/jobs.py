"""The example tasks this app registers."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from tasks import Registry, State, TaskRecord, current_task
from tasks.registry import RecordLookup

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
#: the suffix of an export still being written; it is renamed to ``<id>.csv`` once complete
PARTIAL = ".csv.part"


def exports_folder() -> Path:
    """``EXPORTS_FOLDER``, or ``exports`` in the instance folder (needs the app's context)."""
    from quart import current_app

    return Path(current_app.config["EXPORTS_FOLDER"] or Path(current_app.instance_path) / "exports")


def export_paths(task_id: str) -> tuple[Path, Path]:
    """Where export ``task_id`` writes: its CSV, and the partial file that becomes it.

    Both follow from the id alone, so whatever ended the export (even ``kill -9``, which
    leaves a record with no result) its files can be found.
    """
    folder = exports_folder()
    return folder / f"{task_id}.csv", folder / f"{task_id}{PARTIAL}"


def remove_export(record: TaskRecord) -> None:
    """Delete what an export wrote, when retention deletes the export's record."""
    for path in export_paths(record.id):
        path.unlink(missing_ok=True)


@registry.sweeper
async def sweep_exports(get: RecordLookup) -> None:
    """Delete export files that no record needs: a partial file whose task is no longer
    live (its process was killed), or a CSV whose export did not succeed or whose record is
    gone (deleted by a process on another machine, say)."""
    for path in await asyncio.to_thread(_export_files, exports_folder()):
        partial = path.name.endswith(PARTIAL)
        record = await get(path.name.removesuffix(PARTIAL if partial else ".csv"))
        if record is not None and not record.state.terminal:
            continue  # an export is writing it, or will be recovered and then swept
        if record is not None and not partial and record.state is State.SUCCEEDED:
            continue  # a result, kept until retention deletes its record
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _export_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.name.endswith((".csv", PARTIAL))]


@registry.task(timeout=600, cleanup=remove_export)
def export(rows: Annotated[int, Field(ge=1, le=MAX_EXPORT_ROWS)] = 100_000) -> dict[str, Any]:
    """Write a CSV report of ``rows`` rows to the exports folder; returns its path and size."""
    task = current_task()
    path, partial = export_paths(task.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with partial.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["row", "square", "label"])
            for row in range(1, rows + 1):
                writer.writerow([row, row * row, f"item-{row:07d}"])
                if row % 10_000 == 0 or row == rows:
                    task.raise_if_cancelled()
                    task.progress(row, rows, "rows written")
        partial.replace(path)  # complete: only now under the name that the result gives
        size = path.stat().st_size
    except BaseException:
        for leftover in (partial, path):  # a failed or cancelled export leaves no file
            leftover.unlink(missing_ok=True)
        raise
    return {"path": str(path), "rows": rows, "bytes": size}
