"""Refusing submissions cheaply: a ``503`` before the app sees a request it would refuse.

Under overload most submissions are refused. Answered by the view, a refusal costs about
what an accepted request does (request context, routing, reading the body, error handlers),
CPU that the accepted tasks then lack. This ASGI middleware answers ``POST <prefix><name>``
for a registered task itself while the runner would refuse it, with the same JSON body and
``Retry-After`` as the API; everything else goes to the app unchanged. A full queue does not
refuse a submission for later (``delay`` or ``at``): such a task waits as a row, and the
view applies its own bound (``TASKS_MAX_SCHEDULED``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from .errors import QueueFull
from .runner import Runner

__all__ = ["RefuseWhenFull"]

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Any]


class RefuseWhenFull:
    """Wraps an app's ``asgi_app``; ``runner`` gives the runner, or None before startup."""

    def __init__(
        self,
        app: ASGIApp,
        runner: Callable[[], Runner | None],
        prefix: str,
        on_refuse: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self._runner = runner
        self.prefix = prefix
        self._on_refuse = on_refuse  # told the error code of each refusal (for metrics)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            runner = self._runner()
            name = scope["path"].removeprefix(self.prefix)
            if (
                runner is not None
                and name != scope["path"]
                and name in runner.registry
                and (refusal := runner.refusal()) is not None
                and not (isinstance(refusal, QueueFull) and _for_later(scope))
            ):
                if self._on_refuse is not None:
                    self._on_refuse(refusal.code)
                await _drain(receive)  # read the body so that the connection can be reused
                body = orjson.dumps({"error": {"code": refusal.code, "message": refusal.message}})
                await send(
                    {
                        "type": "http.response.start",
                        "status": refusal.status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(refusal.retry_after).encode()),
                        ],
                        "trailers": False,
                    }
                )
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
        await self.app(scope, receive, send)


def _for_later(scope: Scope) -> bool:
    """Whether the submission asks for a delay: such tasks wait as rows, not in the queue."""
    query = scope.get("query_string", b"")
    if not isinstance(query, bytes) or not query:
        return False
    pairs = parse_qsl(query.decode("latin-1"))
    return any(name in ("delay", "at") and value for name, value in pairs)


async def _drain(receive: ASGIReceiveCallable) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
