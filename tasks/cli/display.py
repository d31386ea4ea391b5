"""How the command line shows tasks: a progress bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from ..records import State, Step, TaskRecord

__all__ = [
    "ProgressDisplay",
    "format_names",
    "format_record",
    "format_result",
    "format_table",
    "render_bar",
    "render_line",
]

_BAR_MIN, _BAR_MAX = 10, 40
_CLEAR_TO_END = "\x1b[K"
#: characters of one step's line in ``tasks status``; a long result is cut there
STEP_WIDTH = 160


def _number(value: float) -> str:
    return f"{value:g}"


def _fraction(record: TaskRecord) -> float | None:
    progress = record.progress
    if progress is None or not progress.total or progress.total <= 0:
        return None
    return max(0.0, min(1.0, progress.current / progress.total))


def _counts(record: TaskRecord) -> str:
    progress = record.progress
    if progress is None:
        return ""
    if progress.total is None:
        return _number(progress.current)
    return f"{_number(progress.current)}/{_number(progress.total)}"


def _outcome(record: TaskRecord) -> str:
    if record.state is State.FAILED and record.error is not None:
        return f"{record.error.type}: {record.error.message}"
    if record.state is State.QUEUED and record.error is not None:
        return f"retrying after {record.error.type}: {record.error.message}"
    if record.progress is not None and record.progress.message and not record.state.terminal:
        return record.progress.message
    return ""


def render_bar(record: TaskRecord, width: int) -> str:
    """One terminal line: name, short id, a bar of the progress, counts and state."""
    head = f"{record.name} {record.id[:8]}"
    fraction = _fraction(record)
    counts = _counts(record)
    tail = " ".join(part for part in (record.state.value, _outcome(record)) if part)
    if fraction is None:
        line = " ".join(part for part in (head, counts, tail) if part)
        return line[: max(width - 1, 1)]
    numbers = f"{counts} {fraction:4.0%}"
    room = width - 1 - len(head) - len(numbers) - len(record.state.value) - 6
    size = max(_BAR_MIN, min(_BAR_MAX, room))
    filled = round(fraction * size)
    bar = "[" + "#" * filled + "-" * (size - filled) + "]"
    return f"{head} {bar} {numbers} {tail}"[: max(width - 1, 1)]


def render_line(record: TaskRecord) -> str:
    """One plain line for logs and pipes: short id, name, state, progress, message or error."""
    parts = [record.id[:8], record.name, record.state.value]
    fraction = _fraction(record)
    counts = _counts(record)
    if counts and not record.state.terminal:
        parts.append(counts if fraction is None else f"{counts} ({fraction:.0%})")
    outcome = _outcome(record)
    if outcome:
        parts.append(outcome)
    return " ".join(parts)


class ProgressDisplay:
    """Shows a task's updates on ``stream``.

    On a terminal one line is redrawn in place as a bar. Elsewhere each state change is
    printed as a line, and progress in between at most every ``plain_interval`` seconds,
    so a long task does not flood a log file.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool,
        width: int = 80,
        plain_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = tty
        self.width = width
        self.plain_interval = plain_interval
        self._clock = clock
        self._last: TaskRecord | None = None
        self._last_line_at = float("-inf")
        self._drawn = False

    def update(self, record: TaskRecord) -> None:
        if self.tty:
            self.stream.write("\r" + render_bar(record, self.width) + _CLEAR_TO_END)
            self._drawn = True
        elif self._wants_line(record):
            self.stream.write(render_line(record) + "\n")
            self._last_line_at = self._clock()
        self._last = record
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _wants_line(self, record: TaskRecord) -> bool:
        last = self._last
        if last is None or last.state is not record.state or record.state.terminal:
            return True
        if render_line(last) == render_line(record):
            return False
        return self._clock() - self._last_line_at >= self.plain_interval


def format_result(value: Any) -> str:
    """A result as printed on stdout: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def format_record(record: TaskRecord) -> str:
    """Every field of a record, one per line."""
    data = record.to_dict()
    fraction = _fraction(record)
    progress = _counts(record)
    if fraction is not None:
        progress += f" ({fraction:.0%})"
    if record.progress and record.progress.message:
        progress += f" {record.progress.message}"
    shown = {
        "id": record.id,
        "name": record.name,
        "state": record.state.value,
        "arguments": json.dumps(record.kwargs),
        "progress": progress or "-",
        "result": format_result(record.result) if record.state is State.SUCCEEDED else "-",
        "error": f"{record.error.type}: {record.error.message}" if record.error else "-",
        "attempts": f"{record.attempts} of {record.max_attempts}",
        "timeout": f"{record.timeout:g} s" if record.timeout is not None else "-",
        "created": data["created_at"],
        "started": data["started_at"] or "-",
        "finished": data["finished_at"] or "-",
    }
    if record.run_at is not None:
        shown["run at"] = data["run_at"]
    if record.idempotency_key is not None:
        shown["key"] = record.idempotency_key
    if record.schedule is not None:
        shown["schedule"] = f"{record.schedule}, tick {data['tick']}"
    if record.parent is not None:
        shown["parent"] = record.parent
    if record.children:
        shown["children"] = f"{len(record.children)}: " + " ".join(record.children)
    lines = [f"{key:<10} {value}" for key, value in shown.items()]
    if record.steps:
        lines.append("steps")
        lines += [f"  {_step_line(step)}" for step in record.steps]
    return "\n".join(lines)


def _step_line(step: Step) -> str:
    """One step as ``tasks status`` shows it: name, state, and its result or error."""
    if step.state is State.SUCCEEDED:
        outcome = format_result(step.result)
    elif step.error is not None:
        outcome = f"{step.error.type}: {step.error.message}"
    else:
        outcome = "(in flight, or cut short)"
    when = (step.finished_at or step.started_at).isoformat(timespec="seconds")
    text = f"{step.name:<12} {step.state.value:<9} {when}  {outcome}"
    return text if len(text) <= STEP_WIDTH else text[: STEP_WIDTH - 1] + "…"


def format_table(records: Iterable[TaskRecord]) -> str:
    """Records as aligned columns: id, name, state, progress, created."""
    rows = [("ID", "NAME", "STATE", "PROGRESS", "CREATED")]
    for record in records:
        rows.append(
            (
                record.id,
                record.name,
                record.state.value,
                _counts(record) or "-",
                record.to_dict()["created_at"],
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def format_names(names: Iterable[dict[str, Any]]) -> str:
    """Registered tasks, one per line: the name, its parameters, then its description."""
    lines = []
    for task in names:
        parameters = ", ".join(_parameter(item) for item in task.get("parameters", []))
        line = f"{task['name']}({parameters})"
        if task.get("description"):
            line += f"  {task['description']}"
        lines.append(line)
    return "\n".join(lines)


def _parameter(item: dict[str, Any]) -> str:
    text = f"{item['name']}: {item['type']}"
    if not item.get("required", True):
        text += f" = {json.dumps(item.get('default'))}"
    return text
