"""Who may call the blueprint: allowed hosts, cross-site refusal, loopback-only, the token."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart

from tasks.web.access_rules import SESSION_COOKIE, session_signature
from tests.conftest import ServeFactory
from tests.harness import Served

TOKEN = "correct horse battery staple"


@pytest.fixture
async def token_api(serve: ServeFactory) -> AsyncIterator[Served]:
    async with serve(TASKS_API_TOKEN=TOKEN) as served:
        yield served


def peer(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


async def error_of(response: Any) -> dict[str, str]:
    body = await response.get_json()
    assert isinstance(body, dict), body
    error: dict[str, str] = body["error"]
    return error


# -- without a token: this machine only -------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"])
async def test_loopback_peers_are_served_without_a_token(api: Served, address: str) -> None:
    response = await api.client.post("/tasks/noop", **peer(address))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tasks"), ("POST", "/tasks/noop"), ("GET", "/"), ("GET", "/healthz"),
     ("GET", "/events"), ("GET", "/start_task"), ("GET", "/task-types")],
)  # fmt: skip
async def test_other_machines_are_refused_without_a_token(
    api: Served, method: str, path: str
) -> None:
    response = await api.client.open(path, method=method, **peer("192.0.2.10"))
    assert response.status_code == 403
    error = await error_of(response)
    assert error["code"] == "remote_access_refused"
    assert "QUART_TASKS_API_TOKEN" in error["message"]
    assert await api.runner.store.query() == []


@pytest.mark.parametrize(
    "header", [("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=203.0.113.7")]
)
async def test_proxied_requests_are_refused_without_a_token(
    api: Served, header: tuple[str, str]
) -> None:
    response = await api.client.post("/tasks/noop", headers=dict([header]))
    assert response.status_code == 403
    assert "through a proxy" in (await error_of(response))["message"]


async def test_a_warning_says_the_api_is_open_to_local_clients(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tasks"):
        async with serve():
            pass
    warnings = [r.message for r in caplog.records if "TASKS_API_TOKEN is not set" in r.message]
    assert len(warnings) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tasks"):
        async with serve(TASKS_API_TOKEN=TOKEN):
            pass
    assert not [r for r in caplog.records if "TASKS_API_TOKEN" in r.message]


# -- with a token ------------------------------------------------------------------------


def blueprint_routes(app: Quart) -> list[tuple[str, str]]:
    """Every (method, path) the tasks blueprint and the example app serve, ids filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<path:filename>", "dashboard.js")
        path = path.replace("<task_id>", "0" * 32).replace("<name>", "noop")
        routes += [(method, path) for method in sorted(rule.methods or ()) if method != "OPTIONS"]
    return routes


async def test_with_a_token_no_route_but_healthz_answers_without_it(token_api: Served) -> None:
    routes = blueprint_routes(token_api.app)
    assert len(routes) >= 12
    for method, path in routes:
        response = await token_api.client.open(path, method=method)
        if (method, path) in {("GET", "/healthz"), ("HEAD", "/healthz")}:
            assert response.status_code == 200
            continue
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await token_api.runner.store.query() == []


async def test_the_bearer_token_opens_every_route_from_anywhere(token_api: Served) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = await token_api.client.post("/tasks/noop", headers=auth, **peer("192.0.2.10"))
    assert response.status_code == 202
    task_id = (await response.get_json())["id"]
    response = await token_api.client.get(f"/tasks/{task_id}", headers=auth)
    assert response.status_code == 200
    response = await token_api.client.get("/", headers=auth)
    assert response.status_code == 200


@pytest.mark.parametrize("sent", ["Bearer wrong", f"Bearer {TOKEN}x", "Basic abc", f"{TOKEN}"])
async def test_a_wrong_token_is_refused_with_a_clear_message(token_api: Served, sent: str) -> None:
    response = await token_api.client.get("/tasks", headers={"Authorization": sent})
    assert response.status_code == 401
    error = await error_of(response)
    assert error["code"] == "authentication_required"
    assert "Authorization: Bearer" in error["message"]


async def test_the_dashboard_signs_in_with_a_signed_cookie(token_api: Served) -> None:
    client = token_api.client
    page = await client.get("/")
    assert page.status_code == 401
    assert 'action="/sign-in"' in await page.get_data(as_text=True)
    assert "Content-Security-Policy" in page.headers

    refused = await client.post("/sign-in", form={"token": "guess"})
    assert refused.status_code == 401
    assert "not this server&#39;s token" in await refused.get_data(as_text=True)

    signed = await client.post("/sign-in", form={"token": TOKEN})
    assert signed.status_code == 303
    assert signed.headers["Location"] == "/"
    cookie = signed.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert TOKEN not in cookie
    assert (await client.get("/")).status_code == 200  # the client keeps the cookie
    assert (await client.post("/tasks/noop")).status_code == 202

    out = await client.post("/sign-out")
    assert out.status_code == 303
    assert (await client.get("/")).status_code == 401


async def test_a_forged_or_expired_session_is_refused(token_api: Served) -> None:
    client = token_api.client
    later = int(time.time()) + 3600
    client.set_cookie("localhost", SESSION_COOKIE, f"{later}.{'0' * 64}")
    assert (await client.get("/tasks")).status_code == 401
    past = int(time.time()) - 1
    client.set_cookie("localhost", SESSION_COOKIE, f"{past}.{session_signature(TOKEN, past)}")
    assert (await client.get("/tasks")).status_code == 401
    client.set_cookie("localhost", SESSION_COOKIE, f"{later}.{session_signature(TOKEN, later)}")
    assert (await client.get("/tasks")).status_code == 200


# -- cross-site --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8001"},
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
    ],
)
@pytest.mark.parametrize("token", [None, TOKEN])
async def test_cross_site_browser_writes_are_refused(
    serve: ServeFactory, headers: dict[str, str], token: str | None
) -> None:
    config = {"TASKS_API_TOKEN": token} if token else {}
    async with serve(**config) as api:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        response = await api.client.post(
            "/tasks/noop", headers={**headers, **auth}, data='{"x": 1}'
        )
        assert response.status_code == 403
        assert (await error_of(response))["code"] == "cross_site_request"
        task = await api.submit("sleep", {"seconds": 5}) if not token else None
        if task is not None:
            response = await api.client.delete(f"/tasks/{task['id']}", headers=headers)
            assert response.status_code == 403
            response = await api.client.get("/start_task?value=1", headers=headers)
            if "Sec-Fetch-Site" in headers:
                assert response.status_code == 403
            await api.client.delete(f"/tasks/{task['id']}")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
     {"Origin": "http://localhost"},
     {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}],
)  # fmt: skip
async def test_same_origin_and_non_browser_writes_pass(
    api: Served, headers: dict[str, str]
) -> None:
    response = await api.client.post("/tasks/noop", headers=headers)
    assert response.status_code == 202


async def test_cross_site_reads_are_left_to_the_browsers_same_origin_policy(
    api: Served,
) -> None:
    response = await api.client.get("/tasks", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


# -- allowed hosts -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io"])
async def test_a_foreign_host_header_is_refused(api: Served, host: str) -> None:
    response = await api.client.get("/healthz", headers={"Host": host})
    assert response.status_code == 400
    error = await error_of(response)
    assert error["code"] == "host_not_allowed"
    assert "TASKS_ALLOWED_HOSTS" in error["message"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:9", "[::1]:8000", "LOCALHOST"])
async def test_local_names_with_any_port_are_allowed(api: Served, host: str) -> None:
    response = await api.client.get("/healthz", headers={"Host": host})
    assert response.status_code == 200


async def test_allowed_hosts_are_configurable(serve: ServeFactory) -> None:
    async with serve(TASKS_ALLOWED_HOSTS="tasks.example.com, .corp.example") as api:
        for host, status in [
            ("tasks.example.com", 200),
            ("api.corp.example:443", 200),
            ("corp.example", 200),
            ("notcorp.example", 400),
            ("localhost", 400),
            ("example.com", 400),
        ]:
            response = await api.client.get("/healthz", headers={"Host": host})
            assert response.status_code == status, host
    async with serve(TASKS_ALLOWED_HOSTS=["*"]) as api:
        response = await api.client.get("/healthz", headers={"Host": "anything.example"})
        assert response.status_code == 200


async def test_pages_carry_the_protective_headers(api: Served) -> None:
    page = await api.client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    api = await api.client.get("/tasks")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
