"""Tracked background tasks for Quart apps: run work after the response, and keep account of it.

Register functions on a :class:`Registry`, attach :class:`Tasks` to the app, and submit
through ``Tasks.runner``. Coroutine functions run on the event loop, plain functions in a
worker thread; every task has a durable :class:`TaskRecord`.
"""

from .context import TaskContext, current_task
from .errors import (
    InvalidArguments,
    InvalidOptions,
    QueueFull,
    RequestAccessError,
    ShuttingDown,
    StoreUnavailable,
    TaskAlreadyFinished,
    TaskCancelled,
    TaskNotFound,
    TasksError,
    Unavailable,
    UnknownTask,
)
from .extension import Tasks
from .json_provider import OrjsonProvider
from .records import ErrorInfo, Progress, State, TaskRecord
from .registry import Registry, TaskDefinition
from .runner import Runner
from .settings import Settings
from .store import Change, MemoryStore, SQLiteStore, Store, store_from_url
from .stream import ChangeFeed

__all__ = [
    "Change",
    "ChangeFeed",
    "ErrorInfo",
    "InvalidArguments",
    "InvalidOptions",
    "MemoryStore",
    "OrjsonProvider",
    "Progress",
    "QueueFull",
    "Registry",
    "RequestAccessError",
    "Runner",
    "SQLiteStore",
    "Settings",
    "ShuttingDown",
    "State",
    "Store",
    "StoreUnavailable",
    "TaskAlreadyFinished",
    "TaskCancelled",
    "TaskContext",
    "TaskDefinition",
    "TaskNotFound",
    "TaskRecord",
    "Tasks",
    "TasksError",
    "Unavailable",
    "UnknownTask",
    "current_task",
    "store_from_url",
]
