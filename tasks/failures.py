"""What a failed attempt records: the exception, and the traceback of the task's own code.

The traceback starts at the task function's frame, so the framework's frames that called it
(the runner, the thread pool) are left out, and it keeps only the last few KB: the frames
nearest the error are the ones a person needs.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .records import ErrorInfo

__all__ = ["MAX_TRACEBACK", "task_error"]

#: characters of traceback kept on a record
MAX_TRACEBACK = 4096


def task_error(func: Callable[..., Any], exc: BaseException) -> ErrorInfo:
    """The error of an exception that ``func`` (the task's function) raised."""
    return ErrorInfo(type(exc).__name__, str(exc) or repr(exc), _traceback(func, exc))


def _traceback(func: Callable[..., Any], exc: BaseException) -> str | None:
    start = _frame_of(func, exc.__traceback__)
    if start is None:
        return None  # raised before the task's code ran: nothing of the task to show
    text = "".join(traceback.format_exception(type(exc), exc, start))
    if len(text) > MAX_TRACEBACK:
        text = "…" + text[-(MAX_TRACEBACK - 1) :]
    return text


def _frame_of(func: Callable[..., Any], tb: TracebackType | None) -> TracebackType | None:
    code = getattr(func, "__code__", None)
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return tb
        tb = tb.tb_next
    return None
