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
   came through a proxy (``Forwarded`` / ``X-Forwarded-For``), gets ``403``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

from quart import request
from werkzeug.sansio.response import Response

from ..errors import AuthenticationRequired, CrossSiteRequest, ForbiddenHost, RemoteAccessRefused
from ..settings import Settings

__all__ = [
    "PAGE_HEADERS",
    "check_request",
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
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tasks_session"
#: seconds a dashboard sign-in lasts
SESSION_LIFETIME = 12 * 3600


def check_request(settings: Settings, *, exempt_from_token: bool = False) -> None:
    """Raise the error that refuses the current request, if any check fails."""
    _check_host(settings.allowed_hosts)
    if request.method not in SAFE_METHODS:
        refuse_cross_site()
    if settings.api_token:
        if not exempt_from_token and not _authenticated(settings.api_token):
            sent = "the token sent is not this server's" if _bearer() else "no token was sent"
            raise AuthenticationRequired(
                f"this server needs its API token and {sent}: send `Authorization: Bearer "
                "<token>` (the command line's --token or QUART_TASKS_API_TOKEN), or sign in "
                "on the dashboard"
            )
    else:
        _check_local()


def session_cookie(token: str, response: Response, *, path: str) -> None:
    """Sign the browser in: an ``HttpOnly``, ``SameSite=Strict`` cookie signed with the token."""
    expires = int(time.time()) + SESSION_LIFETIME
    response.set_cookie(
        SESSION_COOKIE,
        f"{expires}.{_signature(token, expires)}",
        max_age=SESSION_LIFETIME,
        path=path,
        secure=request.scheme == "https",
        httponly=True,
        samesite="Strict",
    )


def token_matches(token: str, given: str) -> bool:
    """Compare in constant time, so the answer's timing tells nothing about the token."""
    return hmac.compare_digest(token.encode(), given.encode())


def _check_host(allowed: tuple[str, ...]) -> None:
    host = _host_name(request.headers.get("Host", ""))
    for pattern in allowed:
        if (
            pattern == "*"
            or host == pattern
            or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]))
        ):
            return
    raise ForbiddenHost(
        f"the Host header {request.headers.get('Host', '')!r} is not an allowed host; "
        "add it to TASKS_ALLOWED_HOSTS (QUART_TASKS_ALLOWED_HOSTS) if this server is "
        "meant to answer to that name"
    )


def _host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower case, without the port."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def refuse_cross_site() -> None:
    """Refuse a request that a browser marks as sent by a page of another site or origin.

    The guard applies it to every state-changing method; call it in a ``GET`` view that
    changes state (such as the example app's ``/start_task``).
    """
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in {"cross-site", "same-site"}:
        raise CrossSiteRequest(
            f"{request.method} from a page on another site is refused "
            f"(Sec-Fetch-Site: {site}); use this server's own dashboard, or a client "
            "that is not a browser"
        )
    origin = request.headers.get("Origin")
    if origin is None:
        return
    own = request.headers.get("Host", "").strip().lower()
    if origin == "null" or urlsplit(origin).netloc.lower() != own:
        raise CrossSiteRequest(
            f"{request.method} from the page of another origin ({origin}) is refused; "
            "use this server's own dashboard, or a client that is not a browser"
        )


def _check_local() -> None:
    proxied = "Forwarded" in request.headers or "X-Forwarded-For" in request.headers
    client = request.scope.get("client")  # the ASGI peer; None for a Unix socket or a test
    peer = str(client[0]) if client else None
    if proxied or not _is_loopback(peer):
        where = "through a proxy" if proxied else f"from {peer}"
        raise RemoteAccessRefused(
            f"this server answers only this machine while it has no API token, and this "
            f"request came {where}; set QUART_TASKS_API_TOKEN (TASKS_API_TOKEN) on the "
            "server and send it as `Authorization: Bearer <token>`"
        )


@functools.lru_cache(maxsize=256)  # the same few peers, parsed on every request otherwise
def _is_loopback(address: str | None) -> bool:
    if not address:  # a Unix socket or an in-process test client: only this machine
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _bearer() -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


def _authenticated(token: str) -> bool:
    given = _bearer()
    if given is not None:
        return token_matches(token, given)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    expires, _, signature = cookie.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return token_matches(_signature(token, int(expires)), signature)


def _signature(token: str, expires: int) -> str:
    message = f"tasks-session:{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()
