"""The public API is what these lists say: a name added or removed is a decision, made here."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "tasks": {
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
    },
    "tasks.web": {
        "BadRequest",
        "METRICS_ENDPOINT",
        "blueprint",
        "guard",
        "refuse_cross_site",
        "register_error_handlers",
    },
    "tasks.testing": {"Harness", "TaskRun", "run_task", "running"},
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_names_are_exactly_these(module: str) -> None:
    imported = importlib.import_module(module)
    assert set(imported.__all__) == PUBLIC[module]
    for name in imported.__all__:
        assert getattr(imported, name) is not None, name
