"""Every error answers JSON: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging

from quart import Quart, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from tasks import TasksError, Unavailable

log = logging.getLogger(__name__)


class BadRequest(TasksError):
    """A malformed request: bad JSON, a body that is not an object, a bad query parameter."""

    code = "bad_request"
    status = 400


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    return response


def register(app: Quart) -> None:
    @app.errorhandler(TasksError)
    async def tasks_error(error: TasksError) -> Response:
        response = error_response(error.status, error.code, error.message)
        if isinstance(error, Unavailable):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        message = _HTTP_MESSAGES.get(status) or error.description or error.name
        if status == 413:
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            message = f"the request body is larger than {limit} bytes (MAX_CONTENT_LENGTH)"
        response = error_response(status, code, message)
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "the server failed; the log has the details")


_HTTP_MESSAGES = {
    404: "no such endpoint; see the README for the API",
    405: "this endpoint does not take that method",
}
