"""What the example app serves beyond the tasks blueprint: the classic ``/start_task``."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, url_for

from tasks import InvalidArguments
from tasks.web import guard, refuse_cross_site
from tasks.web.api import query_args

from .jobs import sleep

blueprint = Blueprint("example", __name__)
blueprint.before_request(guard)  # the same hosts, sites and token as the tasks blueprint


@blueprint.get("/start_task")
async def start_task() -> tuple[Response, int, dict[str, str]]:
    """The classic example: answer at once, then sleep ``value`` seconds in a thread."""
    refuse_cross_site()  # a GET, but it starts a task: no other site may make a browser call it
    raw = query_args({"value"}, "use value").get("value", "20")
    try:
        seconds = float(raw)
    except ValueError:
        raise _invalid_value(raw) from None
    if not 0 <= seconds <= 86_400:
        raise _invalid_value(raw)
    record = await sleep.submit(seconds=seconds)
    body = {"status": "started", "task": record.to_dict()}
    return jsonify(body), 202, {"Location": url_for("tasks.status", task_id=record.id)}


def _invalid_value(raw: str) -> InvalidArguments:
    return InvalidArguments(f"value must be a number of seconds from 0 to 86400, not {raw!r}")
