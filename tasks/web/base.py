"""The tasks blueprint itself, and how its views reach the app's :class:`~tasks.Tasks`."""

from __future__ import annotations

from urllib.parse import quote

from quart import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import NotFound

from ..app.extension import Tasks
from ..engine.runner import Runner

__all__ = ["blueprint", "extension", "runner", "task_url"]


class _Blueprint(Blueprint):
    async def send_static_file(self, filename: str) -> Response:
        try:
            return await super().send_static_file(filename)
        except OSError:  # a name no file can have (too long, say): no such file either
            raise NotFound() from None


#: Everything the package serves over HTTP. Mount it with
#: ``app.register_blueprint(blueprint, url_prefix="/jobs")``; every URL it serves and every
#: URL its pages use follow the prefix.
blueprint = _Blueprint(
    "tasks",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def extension() -> Tasks:
    """The current app's :class:`~tasks.Tasks`, with a message naming the fix if it is missing."""
    tasks: Tasks | None = current_app.extensions.get("tasks")
    if tasks is None:
        raise RuntimeError(
            "the tasks blueprint needs the Tasks extension: call Tasks(app, registry=...) "
            "before serving the app"
        )
    return tasks


def runner() -> Runner:
    return extension().runner


#: ``app.extensions`` key of the task URL per root path, with a placeholder for the id:
#: building a URL through the URL map costs more than the rest of a submission's view
_TASK_URLS = "tasks.task_urls"
_PLACEHOLDER = "0task0id0"


def task_url(task_id: str) -> str:
    """The task's URL under the blueprint's prefix, e.g. ``/jobs/tasks/<id>``."""
    templates: dict[str, str] | None = current_app.extensions.get(_TASK_URLS)
    if templates is None:
        templates = current_app.extensions[_TASK_URLS] = {}
    root = request.root_path
    template = templates.get(root)
    if template is None:
        template = templates[root] = url_for("tasks.status", task_id=_PLACEHOLDER)
    return template.replace(_PLACEHOLDER, quote(task_id, safe=""))
