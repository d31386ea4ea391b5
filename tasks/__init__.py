"""Tracked background tasks for Quart apps: run work after the response, and keep account of it.

Register functions on a :class:`Registry`, attach :class:`Tasks` to the app, and submit
from a view with ``await my_task.submit(...)``. Coroutine functions run on the event loop,
plain functions in a worker thread; every task has a durable :class:`TaskRecord`. The HTTP
API, event streams and dashboard are one blueprint in :mod:`tasks.web`; :mod:`tasks.testing`
helps test an app that uses them.
"""

from .app.extension import Tasks
from .app.json_provider import OrjsonProvider
from .app.settings import Settings
from .app.stream import ChangeFeed
from .context import ChildFailed, TaskContext, current_task
from .engine.runner import Runner
from .errors import (
    AccessRefused,
    AuthenticationRequired,
    CrossSiteRequest,
    ForbiddenHost,
    IdempotencyConflict,
    IdempotencyKeyInUse,
    InvalidArguments,
    InvalidOptions,
    NoAppContext,
    QueueFull,
    RemoteAccessRefused,
    RequestAccessError,
    ShuttingDown,
    StoreSchemaError,
    StoreUnavailable,
    TaskAlreadyFinished,
    TaskCancelled,
    TaskNotFinished,
    TaskNotFound,
    TasksError,
    TooManyScheduled,
    Unavailable,
    UnknownQueue,
    UnknownTask,
    WorkflowChanged,
)
from .handle import TaskCall, TaskHandle
from .idempotency import Submitted
from .options import SubmitOptions
from .producer import Producer
from .records import ErrorInfo, Progress, State, Step, TaskRecord
from .registry import Registry, TaskDefinition
from .store import Change, MemoryStore, SQLiteStore, Store, store_from_url

__all__ = [
    "AccessRefused",
    "AuthenticationRequired",
    "Change",
    "ChangeFeed",
    "ChildFailed",
    "CrossSiteRequest",
    "ErrorInfo",
    "ForbiddenHost",
    "IdempotencyConflict",
    "IdempotencyKeyInUse",
    "InvalidArguments",
    "InvalidOptions",
    "MemoryStore",
    "NoAppContext",
    "OrjsonProvider",
    "Producer",
    "Progress",
    "QueueFull",
    "Registry",
    "RemoteAccessRefused",
    "RequestAccessError",
    "Runner",
    "SQLiteStore",
    "Settings",
    "ShuttingDown",
    "State",
    "Step",
    "Store",
    "StoreSchemaError",
    "StoreUnavailable",
    "SubmitOptions",
    "Submitted",
    "TaskAlreadyFinished",
    "TaskCall",
    "TaskCancelled",
    "TaskContext",
    "TaskDefinition",
    "TaskHandle",
    "TaskNotFinished",
    "TaskNotFound",
    "TaskRecord",
    "Tasks",
    "TasksError",
    "TooManyScheduled",
    "Unavailable",
    "UnknownQueue",
    "UnknownTask",
    "WorkflowChanged",
    "current_task",
    "store_from_url",
]
