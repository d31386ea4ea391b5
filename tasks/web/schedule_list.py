"""``GET /schedules``: every periodic task with its period or cron expression, last and next run."""

from __future__ import annotations

from quart import Response, jsonify

from ..app import schedules
from ..records import utcnow
from .api import query_args
from .base import blueprint, runner

__all__ = ["schedule_list"]


@blueprint.get("/schedules")
async def schedule_list() -> Response:
    query_args(set(), "the list of schedules takes no query parameters")
    active = runner()
    described = await schedules.describe(active.registry, active.records, utcnow())
    return jsonify(schedules=described)
