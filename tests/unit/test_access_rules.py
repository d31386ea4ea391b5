"""The access rules over plain headers: malformed input is refused, never an exception."""

from __future__ import annotations

import time

import pytest
from werkzeug.datastructures import Headers

from tasks.app.settings import Settings
from tasks.errors import (
    AuthenticationRequired,
    CrossSiteRequest,
    ForbiddenHost,
    RemoteAccessRefused,
)
from tasks.web.access_rules import (
    SESSION_COOKIE,
    check,
    check_same_site,
    host_name,
    proxied,
    session_signature,
    session_valid,
)

TOKEN = "correct horse battery staple"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("LOCALHOST:8000", "localhost"),
        ("127.0.0.1:9", "127.0.0.1"),
        ("[::1]", "[::1]"),
        ("[::1]:8000", "[::1]"),
        ("tasks.example.com:", "tasks.example.com"),
        ("", ""),
    ],
)
def test_host_names_are_read_without_their_port(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "header",
    [
        "[::1]evil.example",
        "[::1]:8000evil.example",
        "[::1",
        "[1:2]",
        "[::1]:80:80",
        "localhost:²",
        "localhost:٨٠",
        "localhost:99999",
        "localhost:123456",
        "local host",
        "evil.example@localhost",
        "localhost/x",
        ":8000",
        "a" * 300,
    ],
)
def test_malformed_host_headers_have_no_host_name(header: str) -> None:
    assert host_name(header) is None


def test_a_malformed_host_is_refused_even_where_any_name_is_allowed() -> None:
    settings = Settings(allowed_hosts=("*",), api_token=TOKEN)
    headers = Headers({"Host": "[::1]evil.example", "Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(ForbiddenHost, match="not a host name"):
        check("GET", headers, None, settings)


@pytest.mark.parametrize(
    "name",
    ["X-Real-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
     "X-Cluster-Client-IP", "Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
     "Forwarded", "X-Forwarded-For", "Via", "x-real-ip"],
)  # fmt: skip
def test_any_proxy_header_marks_a_request_as_proxied(name: str) -> None:
    headers = Headers({"Host": "localhost", name: "203.0.113.7"})
    assert proxied(headers)
    with pytest.raises(RemoteAccessRefused, match="through a proxy"):
        check("GET", headers, "127.0.0.1", Settings())


def test_a_direct_loopback_request_is_not_proxied() -> None:
    headers = Headers({"Host": "localhost", "User-Agent": "curl", "X-Request-Id": "1"})
    assert not proxied(headers)
    check("GET", headers, "127.0.0.1", Settings())


@pytest.mark.parametrize(
    "cookie",
    ["9" * 4301 + ".ab", "².ab", "²²².ab", "٣٣٣٣٣٣٣٣٣٣." + "0" * 64, "", ".", "abc",
     "-1." + "0" * 64, " 99999999999." + "0" * 64, "99999999999." + "0" * 63 + "g"],
)  # fmt: skip
def test_a_malformed_session_cookie_is_no_session(cookie: str) -> None:
    assert session_valid(TOKEN, cookie) is False


def test_a_signed_session_is_valid_until_it_expires() -> None:
    later = int(time.time()) + 60
    cookie = f"{later}.{session_signature(TOKEN, later)}"
    assert session_valid(TOKEN, cookie)
    assert not session_valid(TOKEN, cookie, now=later + 1)
    assert not session_valid("another token", cookie)


@pytest.mark.parametrize("expires", ["9" * 4301, "²", "٣"])
def test_a_session_cookie_with_a_malformed_expiry_is_not_signed_in(expires: str) -> None:
    settings = Settings(api_token=TOKEN)
    headers = Headers({"Host": "localhost", "Cookie": f"{SESSION_COOKIE}={expires}.{'0' * 64}"})
    with pytest.raises(AuthenticationRequired, match="no token was sent"):
        check("GET", headers, None, settings)


@pytest.mark.parametrize("origin", ["http://[::1", "http://[", "http://[::1]x:80"])
def test_a_malformed_origin_is_another_origin(origin: str) -> None:
    headers = Headers({"Host": "localhost", "Origin": origin})
    with pytest.raises(CrossSiteRequest):
        check_same_site("POST", headers)
