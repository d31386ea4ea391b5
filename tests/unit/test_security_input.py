"""Malformed credentials, hosts, origins and proxy headers get a clear 4xx, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tasks.web.security import SESSION_COOKIE
from tests.conftest import ServeFactory
from tests.harness import Served

TOKEN = "correct horse battery staple"


@pytest.fixture
async def token_api(serve: ServeFactory) -> AsyncIterator[Served]:
    async with serve(TASKS_API_TOKEN=TOKEN) as served:
        yield served


def raw_headers(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    """The request's headers as bytes, as a server hands them on (the test client would
    encode text as UTF-8)."""
    return {"scope_base": {"headers": [(b"host", b"localhost"), *headers]}}


async def error_code(response: Any) -> str:
    body = await response.get_json()
    assert isinstance(body, dict), body
    code: str = body["error"]["code"]
    return code


@pytest.mark.parametrize("expires", [b"9" * 4301, b"\xb2", b"\xb2\xb2\xb2", b"1\xb2"])
async def test_a_session_cookie_with_a_malformed_expiry_is_not_signed_in(
    token_api: Served, expires: bytes
) -> None:
    cookie = SESSION_COOKIE.encode() + b"=" + expires + b"." + b"0" * 64
    response = await token_api.client.get("/tasks", **raw_headers((b"cookie", cookie)))
    assert response.status_code == 401
    assert await error_code(response) == "authentication_required"


@pytest.mark.parametrize("origin", ["http://[::1", "http://[::1]x:80"])
async def test_a_malformed_origin_is_refused_as_another_origin(
    token_api: Served, origin: str
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": origin}
    response = await token_api.client.post("/tasks/noop", headers=headers)
    assert response.status_code == 403
    assert await error_code(response) == "cross_site_request"


@pytest.mark.parametrize(
    "name",
    ["X-Real-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
     "X-Cluster-Client-IP", "Forwarded-For", "X-Forwarded-Host", "Via"],
)  # fmt: skip
async def test_every_proxy_header_counts_as_proxied_without_a_token(api: Served, name: str) -> None:
    response = await api.client.post("/tasks/noop", headers={name: "203.0.113.7"})
    assert response.status_code == 403
    assert await error_code(response) == "remote_access_refused"
    assert await api.runner.store.query() == []


@pytest.mark.parametrize(
    "host", [b"[::1]evil.example", b"[::1]:8000evil.example", b"localhost:\xb2", b"[1:2]:80"]
)
async def test_a_malformed_host_header_is_refused(api: Served, host: bytes) -> None:
    response = await api.client.get("/healthz", scope_base={"headers": [(b"host", host)]})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["code"] == "host_not_allowed"
    assert "not a host name" in body["error"]["message"]


async def test_a_static_file_name_too_long_for_the_file_system_is_not_found(
    api: Served,
) -> None:
    response = await api.client.get("/static/" + "a" * 300)
    assert response.status_code == 404
    assert (await api.client.get("/static/dashboard.js")).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/tasks?limit=%D9%A3", "/tasks?limit=" + "9" * 5000, "/tasks/noop?timeout=%D9%A3",
     "/tasks/noop?retries=%C2%B2", "/tasks/noop?delay=%D9%A3"],
)  # fmt: skip
async def test_numbers_in_a_query_are_ascii_only(api: Served, path: str) -> None:
    method = "GET" if path.startswith("/tasks?") else "POST"
    response = await api.client.open(path, method=method)
    assert response.status_code == 400
    assert await error_code(response) == "bad_request"
