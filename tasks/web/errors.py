"""JSON errors: ``{"error": {"code": ..., "message": ...}}``.

The blueprint answers JSON for errors raised by its own routes and leaves the host app's error
pages alone. An app that is an API as a whole (like the example app) can make every error JSON
with :func:`register_error_handlers`. Errors the router raises before any route is chosen (an
unknown URL, a method a URL does not take) belong to the app, not to a blueprint.
"""

from __future__ import annotations

import logging

from flask.sansio.scaffold import Scaffold
from quart import Quart, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import AuthenticationRequired, TasksError, Unavailable
from .base import blueprint

__all__ = ["BadRequest", "error_response", "mark_body_read", "register_error_handlers"]

log = logging.getLogger("tasks")


class BadRequest(TasksError):
    """A malformed request: bad JSON, a body that is not an object, a bad query parameter."""

    code = "bad_request"
    status = 400


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    return response


async def tasks_error(error: TasksError) -> Response:
    response = error_response(error.status, error.code, error.message)
    if isinstance(error, Unavailable):
        response.headers["Retry-After"] = str(error.retry_after)
        tasks = current_app.extensions.get("tasks")
        if tasks is not None and tasks.metrics is not None:
            tasks.metrics.refuse(error.code)
    if isinstance(error, AuthenticationRequired):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = (error.name or "error").lower().replace(" ", "_")
    message = _HTTP_MESSAGES.get(status) or error.description or error.name
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the request body is larger than {limit} bytes (MAX_CONTENT_LENGTH)"
    allowed = sorted(getattr(error, "valid_methods", None) or ())
    if status == 405 and allowed:
        message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
    response = error_response(status, code, message)
    if allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


async def unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return error_response(500, "internal_error", "the server failed; the log has the details")


async def close_after_an_unread_body(response: Response) -> Response:
    # An error answered before the body was read (404, 405, 413...) leaves the rest of the
    # body on the connection, so the server cannot reuse it. Saying so keeps a keep-alive
    # client from sending its next request into a socket that is about to close.
    if response.status_code >= 400 and _carries_body() and not g.get(_BODY_READ):
        response.headers["Connection"] = "close"
    return response


def _register(target: Scaffold) -> None:
    """The handlers on an app or a blueprint (both are Flask scaffolds)."""
    target.register_error_handler(TasksError, tasks_error)
    target.register_error_handler(HTTPException, http_error)
    target.register_error_handler(Exception, unexpected)
    target.after_request(close_after_an_unread_body)


def register_error_handlers(app: Quart) -> None:
    """Answer every error of ``app`` as JSON, not only those of the tasks blueprint."""
    _register(app)


_register(blueprint)


_BODY_READ = "request_body_read"


def mark_body_read() -> None:
    """Record that the view consumed the whole request body."""
    setattr(g, _BODY_READ, True)


def _carries_body() -> bool:
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return chunked or bool(request.content_length)


_HTTP_MESSAGES = {
    404: "no such endpoint; see the README for the API",
    405: "this endpoint does not take that method",
}
