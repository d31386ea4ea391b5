"""The blueprint's gate (see :mod:`tasks.web.security`) and the dashboard's sign-in.

With ``TASKS_API_TOKEN`` set, a browser that opens the dashboard without a session gets a
``401`` whose page is a sign-in form. Posting the token there sets the session cookie (signed
with the token, ``HttpOnly``, ``SameSite=Strict``), which the page's own requests and its
``EventSource`` then carry; ``POST sign-out`` clears it.
"""

from __future__ import annotations

import logging

from quart import Response, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from ..errors import AuthenticationRequired
from .base import blueprint, extension
from .errors import mark_body_read
from .metrics import METRICS_ENDPOINT
from .security import (
    PAGE_HEADERS,
    SESSION_COOKIE,
    check_request,
    session_cookie,
    token_matches,
)

__all__ = ["guard"]

log = logging.getLogger("tasks")

_OPEN_ENDPOINTS = frozenset({"tasks.healthz", "tasks.sign_in"})


async def guard() -> ResponseReturnValue | None:
    """Refuse the request unless the host, the site and the caller are allowed."""
    settings = extension().settings
    open_route = request.endpoint in _OPEN_ENDPOINTS or (
        request.endpoint == METRICS_ENDPOINT and settings.metrics_public
    )
    try:
        check_request(settings, exempt_from_token=open_route)
    except AuthenticationRequired:
        if request.endpoint == "tasks.dashboard" and request.method == "GET":
            return await _sign_in_page(401)
        raise
    return None


blueprint.before_request(guard)


@blueprint.before_app_serving
async def say_who_may_call() -> None:
    tasks = extension()
    if tasks.role.serves_http and not tasks.settings.api_token:
        log.warning(
            "TASKS_API_TOKEN is not set: the tasks API answers any client on this machine "
            "(and only this machine); set QUART_TASKS_API_TOKEN before exposing it"
        )


@blueprint.after_request
async def no_sniffing(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@blueprint.post("/sign-in")
async def sign_in() -> ResponseReturnValue:
    """Check the posted token; on success set the session cookie and go to the dashboard."""
    token = extension().settings.api_token
    form = await request.form
    mark_body_read()
    if not token:
        return redirect(url_for("tasks.dashboard"), 303)  # nothing to sign in to
    if not token_matches(token, form.get("token", "")):
        return await _sign_in_page(401, "That is not this server's token.")
    response = redirect(url_for("tasks.dashboard"), 303)
    session_cookie(token, response, path=url_for("tasks.dashboard"))
    return response


@blueprint.post("/sign-out")
async def sign_out() -> ResponseReturnValue:
    response = redirect(url_for("tasks.dashboard"), 303)
    response.delete_cookie(SESSION_COOKIE, path=url_for("tasks.dashboard"))
    return response


async def _sign_in_page(status: int, problem: str | None = None) -> Response:
    page = await render_template("tasks/sign_in.html", problem=problem)
    response = Response(page, status=status, headers=PAGE_HEADERS)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
