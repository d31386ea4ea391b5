"""The HTTP side of the tasks package, as one blueprint any Quart app can mount.

::

    from tasks.web import blueprint
    app.register_blueprint(blueprint, url_prefix="/jobs")

serves the API (``/jobs/tasks``, ``/jobs/task-types``, ``/jobs/schedules``, ``/jobs/healthz``,
``/jobs/queues`` to pause and resume a queue, ``/jobs/stats``), the event streams (``/jobs/events``,
``/jobs/tasks/<id>/events``), the dashboard (``/jobs/``), the metrics (``/jobs/metrics``) and
the API's description (``/jobs/openapi.json``, ``/jobs/docs``). The app needs
:class:`tasks.Tasks`, attached before or after. Every request to it passes :func:`guard`
(allowed hosts, cross-site refusal, the API token); ``other_blueprint.before_request(guard)``
applies the same rules to an app's own routes.
"""

# each module adds its routes to the blueprint
from . import (  # noqa: F401
    access,
    admission,
    api,
    dashboard,
    docs,
    events,
    metrics,
    openapi,
    queues,
    schedule_list,
    stats,
)
from .access import guard
from .base import blueprint
from .errors import BadRequest, register_error_handlers
from .metrics import METRICS_ENDPOINT
from .security import refuse_cross_site

__all__ = [
    "METRICS_ENDPOINT",
    "BadRequest",
    "blueprint",
    "guard",
    "refuse_cross_site",
    "register_error_handlers",
]
