"""Who may call the tasks blueprint: its rules, over a request's method, headers and peer.

:mod:`tasks.web.security` applies them to every request the blueprint serves, and
:class:`tasks.admission.RefuseWhenFull` to a submission before it answers one itself, so the
two never disagree on who is served. Each check raises the error that refuses the request.
Nothing here needs a running app: the headers are werkzeug's ``Headers``, as Quart's
``request.headers`` are, and the peer is the ASGI ``client`` address.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import time
from typing import Protocol
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers
from werkzeug.sansio.http import parse_cookie

from ..errors import AuthenticationRequired, CrossSiteRequest, ForbiddenHost, RemoteAccessRefused

__all__ = [
    "SESSION_COOKIE",
    "AccessSettings",
    "check",
    "check_same_site",
    "host_name",
    "proxied",
    "session_signature",
    "session_valid",
    "token_matches",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tasks_session"
#: headers a proxy sets to pass on who the client is or what it asked for; any of them (or
#: another ``X-Forwarded-*``) marks a request as proxied
PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "forwarded-for",
        "via",
        "x-real-ip",
        "x-client-ip",
        "client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "cf-connecting-ipv6",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "x-original-forwarded-for",
        "x-proxyuser-ip",
        "x-envoy-external-address",
        "x-appengine-user-ip",
        "x-azure-clientip",
        "x-original-host",
        "x-host",
    }
)
#: longest Host header read: a DNS name (253 characters) and a port
MAX_HOST_LENGTH = 260
# A Host header: a bracketed IPv6 literal or a plain name, then at most a port of ASCII digits.
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(?::[0-9]{0,5})?")
# A session cookie: its expiry in Unix seconds, a dot, the hex HMAC of that expiry.
_SESSION = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")


class AccessSettings(Protocol):
    """The settings the rules read (:class:`tasks.app.settings.Settings` has them)."""

    @property
    def allowed_hosts(self) -> tuple[str, ...]: ...

    @property
    def api_token(self) -> str: ...


def check(
    method: str,
    headers: Headers,
    peer: str | None,
    settings: AccessSettings,
    *,
    exempt_from_token: bool = False,
) -> None:
    """Raise the error that refuses the request, if any rule does (see tasks.web.security)."""
    check_host(headers.get("Host", ""), settings.allowed_hosts)
    if method not in SAFE_METHODS:
        check_same_site(method, headers)
    if not settings.api_token:
        check_local(headers, peer)
    elif not exempt_from_token and not _authenticated(settings.api_token, headers):
        sent = "the token sent is not this server's" if _bearer(headers) else "no token was sent"
        raise AuthenticationRequired(
            f"this server needs its API token and {sent}: send `Authorization: Bearer "
            "<token>` (the command line's --token or QUART_TASKS_API_TOKEN), or sign in "
            "on the dashboard"
        )


def check_host(header: str, allowed: tuple[str, ...]) -> None:
    """Refuse a ``Host`` header that is malformed or not one of ``allowed``."""
    host = host_name(header)
    if host is None:
        raise ForbiddenHost(
            f"the Host header {header!r} is not a host name or address with an optional "
            "port (such as localhost:8000 or [::1]:8000)"
        )
    for pattern in allowed:
        if (
            pattern == "*"
            or host == pattern
            or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]))
        ):
            return
    raise ForbiddenHost(
        f"the Host header {header!r} is not an allowed host; add it to TASKS_ALLOWED_HOSTS "
        "(QUART_TASKS_ALLOWED_HOSTS) if this server is meant to answer to that name"
    )


def host_name(header: str) -> str | None:
    """The host part of a ``Host`` header, lower case, without the port; None if malformed.

    An empty header gives ``""`` (HTTP/1.0 requests may send none).
    """
    if len(header) > MAX_HOST_LENGTH:
        return None
    return _host_name(header)


@functools.lru_cache(maxsize=256)  # the same few names, parsed on every request otherwise
def _host_name(header: str) -> str | None:
    header = header.strip().lower()
    if not header:
        return ""
    match = _HOST.fullmatch(header)
    if match is None:
        return None
    name = match[1]
    port = header[match.end(1) + 1 :]
    if port and int(port) > 65535:
        return None
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return None
    return name


def check_same_site(method: str, headers: Headers) -> None:
    """Refuse a request that a browser marks as sent by a page of another site or origin."""
    site = headers.get("Sec-Fetch-Site", "").lower()
    if site in {"cross-site", "same-site"}:
        raise CrossSiteRequest(
            f"{method} from a page on another site is refused (Sec-Fetch-Site: {site}); "
            "use this server's own dashboard, or a client that is not a browser"
        )
    origin = headers.get("Origin")
    if origin is None:
        return
    own = headers.get("Host", "").strip().lower()
    if origin == "null" or _netloc(origin) != own:
        raise CrossSiteRequest(
            f"{method} from the page of another origin ({origin}) is refused; use this "
            "server's own dashboard, or a client that is not a browser"
        )


def _netloc(origin: str) -> str | None:
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:  # such as an unclosed IPv6 bracket: no origin of this server
        return None


def check_local(headers: Headers, peer: str | None) -> None:
    """Refuse a request from another machine, or one that came through a proxy."""
    through_proxy = proxied(headers)
    if through_proxy or not _is_loopback(peer):
        where = "through a proxy" if through_proxy else f"from {peer}"
        raise RemoteAccessRefused(
            f"this server answers only this machine while it has no API token, and this "
            f"request came {where}; set QUART_TASKS_API_TOKEN (TASKS_API_TOKEN) on the "
            "server and send it as `Authorization: Bearer <token>`"
        )


def proxied(headers: Headers) -> bool:
    """Whether a proxy header says the request was passed on for someone else."""
    for name, _ in headers:
        lowered = name.lower()
        if lowered in PROXY_HEADERS or lowered.startswith("x-forwarded-"):
            return True
    return False


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


def token_matches(token: str, given: str) -> bool:
    """Compare in constant time, so the answer's timing tells nothing about the token."""
    return hmac.compare_digest(token.encode(), given.encode())


def session_signature(token: str, expires: int) -> str:
    """The session cookie's signature of its expiry, keyed with the token."""
    message = f"tasks-session:{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_valid(token: str, cookie: str, now: float | None = None) -> bool:
    """Whether a session cookie's value is signed with ``token`` and not expired.

    Anything malformed is simply not a session: the caller is not signed in.
    """
    match = _SESSION.fullmatch(cookie)
    if match is None:
        return False
    expires = int(match[1])  # at most 12 ASCII digits
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(session_signature(token, expires), match[2])


def _bearer(headers: Headers) -> str | None:
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


def _authenticated(token: str, headers: Headers) -> bool:
    given = _bearer(headers)
    if given is not None:
        return token_matches(token, given)
    cookies = headers.getlist("Cookie")
    if not cookies:
        return False
    return session_valid(token, parse_cookie(";".join(cookies)).get(SESSION_COOKIE, ""))
