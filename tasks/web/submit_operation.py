"""What ``POST /tasks/<name>`` takes and answers, for the OpenAPI description: one per task."""

from __future__ import annotations

from typing import Any

from ..idempotency import MAX_KEY_LENGTH
from ..options import MAX_DELAY, MAX_PRIORITY, MAX_RETRIES
from .operations import Operation, error, json_answer, query

__all__ = ["TEMPLATE", "submit"]

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "one task per key: a repeated submission with the same task and arguments gets the "
        "first task back (200); other arguments are a 409"
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}


def submit(name: str, description: str, body: dict[str, Any], *, required: bool) -> Operation:
    """``POST /tasks/<name>`` for one registered task, its arguments model as the body."""
    return Operation(
        endpoint="tasks.submit",
        method="post",
        operation_id=f"submit_{name}",
        summary=f"Start a {name} task",
        description=description,
        tag="tasks",
        fixed=frozenset({"name"}),
        parameters=(
            query(
                "timeout", {"type": "number", "exclusiveMinimum": 0}, "seconds one attempt may take"
            ),
            query(
                "retries",
                {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
                "extra attempts after a failure",
            ),
            query(
                "delay",
                {"type": "number", "minimum": 0, "maximum": MAX_DELAY},
                "seconds to wait before running it (stored scheduled until then); not with at",
            ),
            query(
                "at",
                {"type": "string", "format": "date-time"},
                "when to run it: ISO 8601 with its UTC offset (Z, or %2B01:00); "
                "a moment that has passed runs now; not with delay",
            ),
            query(
                "priority",
                {"type": "integer", "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY},
                "higher runs first among the waiting tasks of its queue (default: the task's)",
            ),
            _IDEMPOTENCY_KEY,
        ),
        body={
            "required": required,
            "description": "the task's keyword arguments; an empty body means none given",
            "content": {"application/json": {"schema": body}},
        },
        responses={
            200: json_answer(
                "Task",
                "a replay: the task that already had this Idempotency-Key",
                Location=True,
                Idempotent_Replayed=True,
            ),
            202: json_answer(
                "Task", "accepted: the new task's record, queued or scheduled", Location=True
            ),
            404: error("no task is registered under that name"),
            409: error(
                "the Idempotency-Key was used for another task or other arguments "
                "(idempotency_key_conflict), or by a database transaction that has not ended "
                "yet (idempotency_key_in_use: retry shortly)"
            ),
            413: error("the body is larger than MAX_CONTENT_LENGTH"),
            422: error("the arguments or options do not fit the task"),
            503: error(
                "the server takes no new tasks now (queue full, too many scheduled, shutting "
                "down), or the store fails: then the message says whether the task may have "
                "been stored all the same; a retry with the same Idempotency-Key starts it "
                "at most once",
                Retry_After=False,
            ),
        },
    )


#: the route as such; the description replaces it by one operation per registered task
TEMPLATE = submit("{name}", "", {}, required=False)
