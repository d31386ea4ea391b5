"""The errors the tasks package raises.

Every error a caller can act on derives from :class:`TasksError` and carries a
stable snake_case ``code`` plus the HTTP ``status`` an API should answer with::

    TasksError
    ├── UnknownTask          404  no task is registered under that name
    ├── UnknownQueue         404  no registered task waits in a queue of that name
    ├── TaskNotFound         404  no record has that id
    ├── InvalidArguments     422  the arguments do not fit the task's signature
    ├── InvalidOptions       422  a timeout / retries override is out of range
    ├── TaskAlreadyFinished  409  cancelling a task that has already ended
    ├── AuthenticationRequired 401  the API token is set and the request lacks it
    ├── AccessRefused        403  refused whoever asks: see the two below
    │   ├── RemoteAccessRefused   no token is set and the request is not from this machine
    │   └── CrossSiteRequest      a browser sent it from a page of another site
    ├── ForbiddenHost        400  the ``Host`` header is not in ``TASKS_ALLOWED_HOSTS``
    ├── TaskNotFinished      409  running again a task that has not ended yet
    ├── IdempotencyConflict  409  an idempotency key already used for another submission
    ├── IdempotencyKeyInUse  409  a transaction not yet ended submitted a task with that key
    └── Unavailable          503  the runner cannot take the task now
        ├── QueueFull             the waiting queue is at its limit
        ├── TooManyScheduled      as many tasks as TASKS_MAX_SCHEDULED wait for their time
        ├── ShuttingDown          the runner is draining for shutdown
        └── StoreUnavailable      the store could not be reached or locked in time

    StoreSchemaError         a store was written by a newer version of this package
    RequestAccessError       raised inside a task that touches ``request``
    NoAppContext             ``task.submit()`` called where no app with ``Tasks`` is current
    TaskCancelled            raised by ``TaskContext.raise_if_cancelled``
    WorkflowChanged          a re-run of a task asked for a step or child unlike the first run's
"""

from __future__ import annotations

__all__ = [
    "AccessRefused",
    "AuthenticationRequired",
    "CrossSiteRequest",
    "ForbiddenHost",
    "IdempotencyConflict",
    "IdempotencyKeyInUse",
    "InvalidArguments",
    "InvalidOptions",
    "NoAppContext",
    "QueueFull",
    "RemoteAccessRefused",
    "RequestAccessError",
    "ShuttingDown",
    "StoreSchemaError",
    "StoreUnavailable",
    "TaskAlreadyFinished",
    "TaskCancelled",
    "TaskNotFinished",
    "TaskNotFound",
    "TasksError",
    "TooManyScheduled",
    "Unavailable",
    "UnknownQueue",
    "UnknownTask",
    "WorkflowChanged",
]


class TasksError(Exception):
    """Base class of the errors a caller of the tasks API can act on."""

    code = "tasks_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTask(TasksError):
    code = "unknown_task"
    status = 404


class UnknownQueue(TasksError):
    code = "unknown_queue"
    status = 404


class TaskNotFound(TasksError):
    code = "task_not_found"
    status = 404


class InvalidArguments(TasksError):
    code = "invalid_arguments"
    status = 422


class InvalidOptions(TasksError):
    code = "invalid_options"
    status = 422


class TaskAlreadyFinished(TasksError):
    code = "task_finished"
    status = 409


class AuthenticationRequired(TasksError):
    code = "authentication_required"
    status = 401


class AccessRefused(TasksError):
    code = "forbidden"
    status = 403


class RemoteAccessRefused(AccessRefused):
    code = "remote_access_refused"


class CrossSiteRequest(AccessRefused):
    code = "cross_site_request"


class ForbiddenHost(TasksError):
    code = "host_not_allowed"
    status = 400


class TaskNotFinished(TasksError):
    code = "task_not_finished"
    status = 409


class IdempotencyConflict(TasksError):
    code = "idempotency_key_conflict"
    status = 409


class IdempotencyKeyInUse(TasksError):
    """A transaction that has not ended yet submitted a task with this key: retry once it
    has (its task then comes back, if it committed)."""

    code = "idempotency_key_in_use"
    status = 409


class Unavailable(TasksError):
    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(Unavailable):
    code = "queue_full"


class TooManyScheduled(Unavailable):
    code = "too_many_scheduled"


class ShuttingDown(Unavailable):
    code = "shutting_down"


class StoreUnavailable(Unavailable):
    code = "store_unavailable"


class StoreSchemaError(RuntimeError):
    """The store's schema is newer than this code knows; opening it is refused."""


class RequestAccessError(RuntimeError):
    """A task touched the request that scheduled it; tasks must take their data as arguments."""


class NoAppContext(RuntimeError):
    """``submit`` was called outside an app context, or in an app without the task's registry."""


class TaskCancelled(Exception):
    """Raised by task code (through ``raise_if_cancelled``) to stop cooperatively."""


class WorkflowChanged(RuntimeError):
    """A re-run of a task gave a step (or a child submission) other arguments, or another
    task, than the run that stored it; or a run used one step name twice.

    A task's steps and children are matched by name and position from run to run, so what
    it does before each must not change between runs.
    """
