"""What each route of the API takes and answers, for the OpenAPI description."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import State

__all__ = [
    "API_OPERATIONS",
    "HEADERS",
    "STATE",
    "Operation",
    "error",
    "json_answer",
    "path_parameter",
    "query",
    "text",
]

_SCHEMA = "#/components/schemas/{}"


def json_answer(model: str, description: str, **headers: bool) -> dict[str, Any]:
    """A JSON answer of ``model``; ``headers`` name the headers it carries (True: always)."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _SCHEMA.format(model)}}},
    }
    if headers:
        answer["headers"] = {
            name.replace("_", "-"): {**HEADERS[name.replace("_", "-")], "required": always}
            for name, always in headers.items()
        }
    return answer


def error(description: str, **headers: bool) -> dict[str, Any]:
    return json_answer("Error", description, **headers)


def text(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


HEADERS: dict[str, Any] = {
    "Location": {"description": "the new task's URL", "schema": {"type": "string"}},
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "how to authenticate: Bearer",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "true: the task that already had the request's Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

#: Answers every route can give once the blueprint's request guard is in place.
ALWAYS: dict[int, dict[str, Any]] = {
    400: error("a malformed request, or a Host header that is not allowed"),
    401: error("a token is required and was missing or wrong", WWW_Authenticate=False),
    403: error("a cross-site request, or remote access that is not allowed"),
}
UNAVAILABLE = error(
    "the server takes no new tasks now (queue full, shutting down)", Retry_After=False
)


_STREAMS_UNAVAILABLE = error(
    "the server is shutting down, or has TASKS_MAX_STREAMS streams open", Retry_After=True
)


@dataclass(frozen=True)
class Operation:
    endpoint: str
    method: str
    operation_id: str
    summary: str
    tag: str
    responses: dict[int, dict[str, Any]]
    description: str = ""
    parameters: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    #: path parameters the description fills in (one path per registered task)
    fixed: frozenset[str] = field(default_factory=frozenset)

    def all_responses(self) -> list[tuple[int, dict[str, Any]]]:
        return sorted({**ALWAYS, **self.responses}.items())


def path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


STATE = {"type": "string", "enum": [state.value for state in State]}
#: where an event stream resumes: the header browsers send on reconnecting, or the query
_RESUME = (
    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
    query("after", {"type": "integer", "minimum": 0}, "resume after this event id"),
)
_TASK = json_answer("Task", "the task's record")


#: every route but ``POST /tasks/<name>``, which ``submit_operation.py`` describes per task
API_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "tasks.status",
        "get",
        "get_task",
        "Read a task",
        "tasks",
        {200: _TASK, 404: error("no task has that id")},
    ),
    Operation(
        "tasks.cancel",
        "delete",
        "cancel_task",
        "Cancel a task",
        "tasks",
        {
            202: json_answer(
                "Task", "the record once the task has stopped, or after TASKS_CANCEL_WAIT"
            ),
            404: error("no task has that id"),
            409: error("the task had already finished"),
        },
        description="Waits up to TASKS_CANCEL_WAIT seconds for the task to stop.",
    ),
    Operation(
        "tasks.rerun",
        "post",
        "rerun_task",
        "Run a finished task again",
        "tasks",
        {
            202: json_answer("Task", "accepted: the new task's record, queued", Location=True),
            404: error("no task has that id, or its task is no longer registered"),
            409: error("the task has not finished yet"),
            422: error("the stored arguments no longer fit the task"),
            503: UNAVAILABLE,
        },
        description="A new task with the same name, arguments, timeout and retries.",
    ),
    Operation(
        "tasks.listing",
        "get",
        "list_tasks",
        "List tasks, newest first",
        "tasks",
        {
            200: json_answer("TaskList", "the tasks, newest first"),
            404: error("before names a task that does not exist"),
        },
        parameters=(
            query("state", STATE, "only tasks in this state"),
            query("name", {"type": "string"}, "only tasks of this name"),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "at most this many",
            ),
            query(
                "before",
                {"type": "string"},
                "only tasks created before the task with this id (the next page)",
            ),
            query(
                "q",
                {"type": "string", "maxLength": 200},
                "only tasks whose arguments or error message contain this text (any case)",
            ),
            query(
                "id",
                {"type": "string", "pattern": "^[0-9a-fA-F]{1,32}$"},
                "only tasks whose id starts with this",
            ),
            query(
                "since",
                {"type": "string", "format": "date-time"},
                "only tasks created at or after this moment (ISO 8601 with its offset)",
            ),
            query(
                "until",
                {"type": "string", "format": "date-time"},
                "only tasks created before this moment (ISO 8601 with its offset)",
            ),
        ),
    ),
    Operation(
        "tasks.task_types",
        "get",
        "task_types",
        "The registered tasks",
        "tasks",
        {200: json_answer("TaskTypes", "each registered task and its parameters")},
    ),
    Operation(
        "tasks.schedule_list",
        "get",
        "list_schedules",
        "The periodic tasks, their last and next runs",
        "tasks",
        {200: json_answer("ScheduleList", "each periodic task and its schedule")},
    ),
    Operation(
        "tasks.task_events",
        "get",
        "task_events",
        "Follow one task (server-sent events)",
        "events",
        {
            200: text(
                "text/event-stream",
                "the record, then its changes in order (the latest at each read), to its end",
            ),
            204: {"description": "the client has seen the task's end already"},
            404: error("no task has that id"),
            503: _STREAMS_UNAVAILABLE,
        },
        parameters=_RESUME,
    ),
    Operation(
        "tasks.all_events",
        "get",
        "all_events",
        "Follow every task (server-sent events)",
        "events",
        {
            200: text(
                "text/event-stream",
                "each task's changes in order (the latest at each read); never ends",
            ),
            503: _STREAMS_UNAVAILABLE,
        },
        parameters=_RESUME,
    ),
    Operation(
        "tasks.healthz",
        "get",
        "health",
        "Health of this worker",
        "operations",
        {
            200: json_answer("Health", "taking tasks"),
            503: json_answer("Health", "draining for shutdown, or the store fails"),
        },
    ),
    Operation(
        "tasks.metrics",
        "get",
        "metrics",
        "Prometheus metrics of the whole server",
        "operations",
        {
            200: text("text/plain", "the tasks_* metrics in Prometheus' text format"),
            404: error("metrics are turned off (TASKS_METRICS)"),
        },
    ),
    Operation(
        "tasks.openapi",
        "get",
        "openapi",
        "This description",
        "operations",
        {
            200: {
                "description": "OpenAPI 3.1",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    ),
)
