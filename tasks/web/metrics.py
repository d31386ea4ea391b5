"""``GET /metrics``: the tasks' Prometheus metrics, summed over every worker process."""

from __future__ import annotations

import asyncio

from quart import Response

from ..errors import TasksError
from .base import blueprint, extension

__all__ = ["METRICS_ENDPOINT", "MetricsDisabled"]

#: The view's endpoint name, for a guard that lets scrapers in without the API token when
#: ``TASKS_METRICS_PUBLIC`` is true.
METRICS_ENDPOINT = "tasks.metrics"


class MetricsDisabled(TasksError):
    code = "metrics_disabled"
    status = 404


@blueprint.get("/metrics")
async def metrics() -> Response:
    collected = extension().metrics
    if collected is None:
        raise MetricsDisabled("metrics are turned off; set TASKS_METRICS = true to serve them")
    from prometheus_client import CONTENT_TYPE_LATEST

    collected.flush()  # this worker's gauges exact; other workers' trail by GAUGE_DELAY at most
    # Reading every worker's files is file I/O: keep it off the event loop.
    body = await asyncio.to_thread(collected.render)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
