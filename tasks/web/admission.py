"""Refusing submissions cheaply: a ``503`` before the app sees a request it would refuse.

Under overload most submissions are refused. Answered by the view, a refusal costs about
what an accepted request does (request context, routing, reading the body, error handlers),
CPU that the accepted tasks then lack. This ASGI middleware, which the blueprint puts in
front of each app it is registered on, answers ``POST <blueprint prefix>/tasks/<name>``
for a registered task itself while the runner would refuse it, with the same JSON body and
``Retry-After`` as the API; everything else goes to the app unchanged. A full queue does not
refuse a submission for later (``delay`` or ``at``): such a task waits as a row, and the
view applies its own bound (``TASKS_MAX_SCHEDULED``).

It answers only a request the blueprint's guard would let through (allowed ``Host``, not
cross-site, the token or a local caller: :mod:`.access_rules`), so a ``503`` tells no
one else which tasks exist or how full the queue is; any other request, and a body declared
larger than ``MAX_CONTENT_LENGTH``, goes to the app, whose checks answer. It reads the body
of a request it refuses only up to ``MAX_CONTENT_LENGTH`` and within ``BODY_TIMEOUT``; a body
not read to its end gets ``Connection: close``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from quart import Quart
from quart.blueprints import BlueprintSetupState
from werkzeug.datastructures import Headers

from ..app.extension import Tasks
from ..errors import QueueFull, TasksError, Unavailable
from .access_rules import check
from .base import blueprint

__all__ = ["RefuseWhenFull", "install"]

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Any]


def install(state: BlueprintSetupState) -> None:
    """Put :class:`RefuseWhenFull` in front of the app the blueprint is registered on, for
    the submission URLs under the prefix of that registration."""
    app = cast(Quart, state.app)
    prefix = (state.url_prefix or "").rstrip("/") + "/tasks/"
    app.asgi_app = RefuseWhenFull(app.asgi_app, app, prefix)  # type: ignore[method-assign]


class RefuseWhenFull:
    """Wraps ``app``'s ``asgi_app``; refuses ``POST <prefix><name>`` while the runner would.

    The app's :class:`~tasks.Tasks` is looked up per request (it may be attached after the
    blueprint); without one, before it starts, or with ``submit_prefix=None``, every request
    goes to the app. The app's config (``MAX_CONTENT_LENGTH``, ``BODY_TIMEOUT``,
    ``SERVER_NAME``) is read per refusal.
    """

    def __init__(self, asgi_app: ASGIApp, app: Quart, prefix: str) -> None:
        self.app = asgi_app
        self._quart = app
        self.prefix = prefix
        self._config = app.config

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            refusal = self._refusal(scope)
            if refusal is not None:
                await self._refuse(refusal, scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: HTTPScope) -> Unavailable | None:
        """The refusal to answer here, or None to hand the request to the app."""
        tasks: Tasks | None = self._quart.extensions.get("tasks")
        runner = None if tasks is None or tasks.submit_prefix is None else tasks.started_runner
        name = scope["path"].removeprefix(self.prefix)
        if tasks is None or runner is None or name == scope["path"] or name not in runner.registry:
            return None
        refusal = runner.refusal()
        if refusal is None or (isinstance(refusal, QueueFull) and _for_later(scope)):
            return None
        headers = self._headers(scope)
        if _too_long(headers.get("Content-Length", ""), self._config.get("MAX_CONTENT_LENGTH")):
            return None  # the app answers 413
        client = scope.get("client")
        peer = str(client[0]) if client else None
        try:
            check("POST", headers, peer, tasks.settings)
        except TasksError:
            return None  # the app's guard answers, with no word of the queue
        return refusal

    def _headers(self, scope: HTTPScope) -> Headers:
        """The request's headers as Quart reads them (latin-1, a Host for HTTP/1.0)."""
        headers = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        )
        if scope["http_version"] < "1.1":
            headers.setdefault("Host", self._config.get("SERVER_NAME") or "")
        return headers

    async def _refuse(
        self,
        refusal: Unavailable,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        tasks: Tasks | None = self._quart.extensions.get("tasks")
        if tasks is not None and tasks.metrics is not None:
            tasks.metrics.refuse(refusal.code)
        read = await _drain(
            receive, self._config.get("MAX_CONTENT_LENGTH"), self._config.get("BODY_TIMEOUT")
        )
        body = orjson.dumps({"error": {"code": refusal.code, "message": refusal.message}})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(refusal.retry_after).encode()),
        ]
        if not read and scope["http_version"] in {"1.0", "1.1"}:
            # The rest of the body is still on the connection: it cannot carry another request.
            headers.append((b"connection", b"close"))
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": headers,
                "trailers": False,
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _for_later(scope: HTTPScope) -> bool:
    """Whether the submission asks for a delay: such tasks wait as rows, not in the queue."""
    query = scope["query_string"]
    if not query:
        return False
    pairs = parse_qsl(query.decode("latin-1"))
    return any(name in ("delay", "at") and value for name, value in pairs)


def _too_long(declared: str, limit: int | None) -> bool:
    """Whether a declared ``Content-Length`` is over ``limit`` (None: no limit)."""
    if limit is None or not (declared.isascii() and declared.isdigit()):
        return False
    return len(declared) > 20 or int(declared) > limit


async def _drain(receive: ASGIReceiveCallable, limit: int | None, timeout: float | None) -> bool:
    """Read the body to its end, so the connection can be reused: True if that was done
    within ``limit`` bytes and ``timeout`` seconds, False if it was not (or the client left)."""
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                size += len(message.get("body", b""))
                if limit is not None and size > limit:
                    return False
                if not message.get("more_body", False):
                    return True
    except TimeoutError:
        return False


blueprint.record(install)
