"""The HTTP side of the tasks package, as one blueprint any Quart app can mount.

::

    from tasks.web import blueprint
    app.register_blueprint(blueprint, url_prefix="/jobs")

serves the API (``/jobs/tasks``, ``/jobs/task-types``, ``/jobs/healthz``), the event streams
(``/jobs/events``, ``/jobs/tasks/<id>/events``), the dashboard (``/jobs/``), the metrics
(``/jobs/metrics``) and the API's description (``/jobs/openapi.json``, ``/jobs/docs``). The
app needs :class:`tasks.Tasks` attached first.
"""

from . import api, dashboard, docs, events, metrics, openapi  # noqa: F401  (each adds its routes to the blueprint)
from .base import blueprint
from .errors import BadRequest, register_error_handlers
from .metrics import METRICS_ENDPOINT

__all__ = ["METRICS_ENDPOINT", "BadRequest", "blueprint", "register_error_handlers"]
