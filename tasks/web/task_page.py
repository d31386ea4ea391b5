"""A task's own page: ``GET /tasks/<id>`` answers it to a browser, the JSON record to the rest.

The URL is the one the API already gives (``Location`` of a submission), so a link pasted in
a chat opens the page; a client that asks for JSON (or for anything: ``Accept: */*``) still
gets the record. The page shows what the dashboard's detail dialog shows, kept live from
``/tasks/<id>/events``, with Cancel and Run again (``static/task_page.js``).
"""

from __future__ import annotations

from quart import Response, render_template, request, url_for

from ..records import TaskRecord
from .security import PAGE_HEADERS

__all__ = ["VARY", "page", "wants_page"]

#: the answer depends on the request's Accept header
VARY = {"Vary": "Accept"}


def wants_page() -> bool:
    """Whether the request prefers HTML to JSON (a browser's navigation does)."""
    accepted = request.accept_mimetypes
    best = accepted.best_match(["application/json", "text/html"])
    return best == "text/html" and accepted["text/html"] > accepted["application/json"]


async def page(record: TaskRecord) -> Response:
    html = await render_template("tasks/task.html", record=record, base=url_for("tasks.dashboard"))
    return Response(html, headers={**PAGE_HEADERS, **VARY})
