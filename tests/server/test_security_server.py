"""Security on a real Hypercorn server: the token for the CLI, the client and a browser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from click.testing import Result
from playwright.sync_api import Browser, expect

from tasks import AuthenticationRequired
from tasks.client import TasksClient
from tests import loopback
from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, start_task, task_row
from tests.conftest import AppFactory
from tests.server.test_cli_http import assert_one_line_error
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.server

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("secured")
    with running_server(folder, {"QUART_TASKS_API_TOKEN": TOKEN}) as served:
        yield served


def cli(make_app: AppFactory, server: Server, *args: str) -> Result:
    app = make_app(TASKS_DATABASE=":memory:")
    return app.test_cli_runner().invoke(args=["tasks", *args, "--url", server.url])


def test_curl_style_calls_need_the_token(server: Server) -> None:
    refused = loopback.post(f"{server.url}/tasks/noop", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    accepted = loopback.post(f"{server.url}/tasks/noop", headers=auth, timeout=10)
    assert accepted.status_code == 202
    assert loopback.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_the_command_line_sends_its_token(
    make_app: AppFactory, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUART_TASKS_API_TOKEN", raising=False)
    result = cli(make_app, server, "run", "count", "n=2", "interval=0", "--wait", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2"
    monkeypatch.setenv("QUART_TASKS_API_TOKEN", TOKEN)
    assert cli(make_app, server, "names").exit_code == 0


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_missing_or_wrong_token_is_exit_2_with_one_line(
    make_app: AppFactory, server: Server, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    monkeypatch.delenv("QUART_TASKS_API_TOKEN", raising=False)
    args = ["list"] if token is None else ["list", "--token", token]
    result = cli(make_app, server, *args)
    assert_one_line_error(result, "needs its API token", "--token")


def test_the_client_takes_the_token(server: Server) -> None:
    async def main() -> None:
        async with TasksClient(server.url, token=TOKEN) as client:
            record = await client.submit("noop")
            assert (await client.get(record.id)).id == record.id
        async with TasksClient(server.url, token="wrong") as client:
            with pytest.raises(AuthenticationRequired, match="not this server's"):
                await client.query()

    asyncio.run(main())


def test_a_browser_signs_in_uses_the_dashboard_and_is_refused_without_it(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    answer = page.goto(server.url)
    assert answer is not None
    assert answer.status == 401
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#token", "not it")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sign-in-problem")).to_have_text("That is not this server's token.")
    # without a session, the page's own calls are refused as well
    status = page.evaluate("fetch('/tasks').then(response => response.status)")
    assert status == 401
    context.close()

    with open_dashboard(browser, server.url, DESKTOP, sign_in=TOKEN) as signed_in:
        task_id = start_task(signed_in, "count", n=3, interval=0.01)
        row = task_row(signed_in, task_id)  # its progress comes through the event stream
        expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        signed_in.click("#sign-out button")
        expect(signed_in.locator("#sign-in")).to_be_visible()
