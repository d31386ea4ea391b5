"""The ``tasks`` log: where it goes when the app has not said, and records that name the task.

As Quart does for ``app.logger``: if nothing would show the ``tasks`` log's INFO lines (no
handler on it or its parents at that level), it gets one that writes them to stderr, so that
the startup line, failures and recoveries are seen, as text or, with ``TASKS_LOG_FORMAT =
"json"``, one JSON object a line. Logging configured by the app (or by a test runner) is
left as it is.

Every log record, whoever emits it, carries ``task_id`` and ``task_name``: those of the task
whose attempt runs where it was emitted (its own ``logging`` calls, in coroutine and thread
tasks alike), else None. So any handler or formatter can show them
(``%(task_id)s``); the two names are taken on every record, and ``extra=`` cannot set them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from ..context import running_task

__all__ = ["JsonFormatter", "name_tasks_in_logs", "show_by_default", "use_format"]

log = logging.getLogger("tasks")

TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"

#: the handler added to the ``tasks`` log when nothing else would show it
default_handler = logging.StreamHandler(sys.stderr)
default_handler.setFormatter(logging.Formatter(TEXT_FORMAT))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC), ``level``, ``logger``, ``process``,
    ``message``, ``task_id``, ``task_name``, and ``exception`` (a traceback) if any."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
            "task_id": getattr(record, "task_id", None),
            "task_name": getattr(record, "task_name", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def use_format(kind: Literal["text", "json"]) -> None:
    """Write the default handler's lines as text or JSON (``TASKS_LOG_FORMAT``)."""
    default_handler.setFormatter(
        JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)
    )


def name_tasks_in_logs() -> None:
    """Give every log record ``task_id`` and ``task_name`` (installed once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "names_tasks", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        context = running_task()
        if context is None:
            record.task_id = record.task_name = None
        else:
            record.task_id, record.task_name = context.id, context.name
        return record

    factory.names_tasks = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def show_by_default() -> None:
    """Give the ``tasks`` log a stderr handler at INFO, unless some handler would show it."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
        if _has_level_handler(log):
            log.setLevel(logging.NOTSET)  # configured elsewhere: that configuration decides
            return
    if not _has_level_handler(log):
        log.addHandler(default_handler)


def _has_level_handler(logger: logging.Logger) -> bool:
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False
