"""``/docs`` in a real browser, served by a real server: everything it loads comes from the
server itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Request

from tests.browser import DESKTOP, browser
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("docs")) as started:
        yield started


@pytest.mark.server
def test_the_docs_page_loads_with_no_request_to_another_host(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: problems.append(_failed(request)))
    page.on("console", lambda message: problems.append(message.text))
    try:
        response = page.goto(f"{server.url}/docs")
        assert response is not None
        assert response.status == 200
        assert page.locator("#submit_count h2").inner_text() == "POST /tasks/count"
        assert "integer" in page.locator("#submit_count table").first.inner_text()
        assert page.locator("#schema-Task pre").count() == 1
        stylesheet = page.evaluate(
            "getComputedStyle(document.querySelector('.operation')).borderRadius"
        )
        assert stylesheet == "8px"  # the page's own stylesheet applied
    finally:
        context.close()
    assert requested
    assert all(url.startswith(server.url) for url in requested), requested
    assert problems == []


def _failed(request: Request) -> str:
    return f"failed: {request.url} {request.failure}"
