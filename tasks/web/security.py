"""Who may use the tasks blueprint: the ``Host`` allow-list, cross-site refusal, the token.

Every request to the blueprint passes three checks, in this order:

1. ``Host`` must be one of ``TASKS_ALLOWED_HOSTS`` (``400`` otherwise), so a page on another
   site cannot reach a server on 127.0.0.1 by DNS rebinding.
2. A state-changing request that a browser marks as sent by another site
   (``Sec-Fetch-Site: cross-site`` or ``same-site``, or an ``Origin`` other than the request's
   own host) is refused with ``403``. Clients that send neither header (curl, httpx, the
   command line) pass.
3. With ``TASKS_API_TOKEN`` set, the request must carry it, as ``Authorization: Bearer`` or in
   the dashboard's signed session cookie (``401`` otherwise; ``GET /healthz`` is exempt).
   Without a token only this machine may call: a peer that is not loopback, or a request that
   came through a proxy (any header a proxy sets to name the client: ``Forwarded``,
   ``X-Forwarded-*``, ``X-Real-IP``, ``Via``...), gets ``403``.

The rules themselves are in :mod:`tasks.access_rules`; this module applies them to Quart's
``request``.
"""

from __future__ import annotations

import time

from quart import request
from werkzeug.sansio.response import Response

from ..app.settings import Settings
from .access_rules import SESSION_COOKIE, check, check_same_site, session_signature, token_matches

__all__ = [
    "PAGE_HEADERS",
    "SESSION_COOKIE",
    "check_request",
    "peer",
    "refuse_cross_site",
    "session_cookie",
    "token_matches",
]

#: what the blueprint's pages may load: nothing from elsewhere, no inline script
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: seconds a dashboard sign-in lasts
SESSION_LIFETIME = 12 * 3600


def check_request(settings: Settings, *, exempt_from_token: bool = False) -> None:
    """Raise the error that refuses the current request, if any check fails."""
    check(request.method, request.headers, peer(), settings, exempt_from_token=exempt_from_token)


def peer() -> str | None:
    """The ASGI peer's address; None for a Unix socket or an in-process test client."""
    client = request.scope.get("client")
    return str(client[0]) if client else None


def session_cookie(token: str, response: Response, *, path: str) -> None:
    """Sign the browser in: an ``HttpOnly``, ``SameSite=Strict`` cookie signed with the token."""
    expires = int(time.time()) + SESSION_LIFETIME
    response.set_cookie(
        SESSION_COOKIE,
        f"{expires}.{session_signature(token, expires)}",
        max_age=SESSION_LIFETIME,
        path=path,
        secure=request.scheme == "https",
        httponly=True,
        samesite="Strict",
    )


def refuse_cross_site() -> None:
    """Refuse a request that a browser marks as sent by a page of another site or origin.

    The guard applies it to every state-changing method; call it in a ``GET`` view that
    changes state (such as the example app's ``/start_task``).
    """
    check_same_site(request.method, request.headers)
