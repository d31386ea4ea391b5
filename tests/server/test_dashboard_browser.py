"""The dashboard in a real browser: Debian's chromium driven by Playwright, against Hypercorn.

Skipped only where /usr/bin/chromium is missing outside CI; in CI (``CI`` set) a missing
browser fails the run. Set ``SAVE_SCREENSHOT=1`` to refresh docs/dashboard*.png.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import loopback
from tests.browser import DESKTOP, PHONE, WAIT_MS, browser, open_dashboard, start_task, task_row
from tests.servers import ROOT, Server, running_server

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("dashboard")) as started:
        yield started


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with open_dashboard(browser, server.url, DESKTOP) as opened:
        yield opened


def test_a_count_task_progresses_to_100_percent_without_reload(page: Page) -> None:
    page.evaluate("window.__sameDocument = true")
    task_id = start_task(page, "count", n=20, interval=0.1)
    row = task_row(page, task_id)
    # Part-way: the bar moves while the task runs (progress is written every 0.2 s).
    page.wait_for_function(
        """id => {
            const bar = document.querySelector(`tr.task[data-id="${id}"] progress`);
            return bar && bar.value > 0 && bar.value < 100;
        }""",
        arg=task_id,
        timeout=WAIT_MS,
    )
    expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    expect(row.locator(".state")).to_have_text("succeeded")
    expect(row.locator(".progress-text")).to_have_text("20 / 20 · 100 %")
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    expect(row.locator(".outcome")).to_have_text("20")
    expect(row.locator(".duration")).to_have_text(re.compile(r"^\d+\.\d+ s$"))
    expect(row.locator("button.cancel")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def test_a_long_sleep_is_cancelled_from_its_button(page: Page) -> None:
    task_id = start_task(page, "sleep", seconds=60)
    row = task_row(page, task_id)
    expect(row).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    row.locator("button.cancel").click()
    expect(row).to_have_attribute("data-state", "cancelled", timeout=WAIT_MS)
    expect(row.locator(".state")).to_have_text("cancelled")
    expect(row.locator("button.cancel")).to_be_hidden()


def test_a_failed_task_shows_its_error_and_markup_stays_text(page: Page) -> None:
    hostile = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    task_id = start_task(page, "fail", message=hostile)
    row = task_row(page, task_id)
    expect(row).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    expect(row.locator(".outcome")).to_have_text(f"RuntimeError: {hostile}")
    arguments = json.dumps({"message": hostile}, separators=(", ", ": "))
    expect(row.locator(".task-args")).to_have_text(arguments)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert row.locator("script, img").count() == 0
    trace = row.locator("details.traceback")  # the task's traceback, folded until asked for
    expect(trace).to_be_visible()
    expect(trace.locator("pre")).to_be_hidden()
    trace.locator("summary").click()
    expect(trace.locator("pre")).to_contain_text("raise RuntimeError(message)")
    expect(trace.locator("pre")).to_contain_text(f"RuntimeError: {hostile}")

    page.reload()  # the same row, rendered by the server this time
    row = task_row(page, task_id)
    expect(row.locator(".outcome")).to_have_text(f"RuntimeError: {hostile}")
    expect(row.locator("details.traceback pre")).to_contain_text("raise RuntimeError(message)")
    expect(row.locator(".task-args")).to_have_text(arguments)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert row.locator("script, img").count() == 0


def test_a_refused_submission_shows_the_servers_message(page: Page) -> None:
    page.select_option("#task-name", "sleep")
    page.fill("#arg-sleep-seconds", "-1")
    page.click("#start-form button[type=submit]")
    expect(page.locator("#form-status")).to_contain_text("argument 'seconds'", timeout=WAIT_MS)
    expect(page.locator("#form-status")).to_have_attribute("data-kind", "error")


def test_filters_keep_applying_to_live_changes(page: Page, server: Server) -> None:
    page.select_option("#filter-name", "fail")  # submits the filter form
    page.wait_for_url("**/?name=fail")
    expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)
    names = page.locator("tr.task").evaluate_all("rows => rows.map(row => row.dataset.name)")
    assert set(names) <= {"fail"}
    skipped = loopback.post(f"{server.url}/tasks/noop").json()["id"]
    shown = loopback.post(f"{server.url}/tasks/fail", json={"message": "filtered"}).json()["id"]
    # Events arrive in write order: once the later task is shown, the earlier one was seen.
    expect(task_row(page, shown)).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    expect(task_row(page, skipped)).to_have_count(0)


def test_a_stream_refused_for_too_many_open_is_opened_again(
    browser: Browser, tmp_path: Path
) -> None:
    with running_server(tmp_path, {"QUART_TASKS_MAX_STREAMS": "1"}) as limited:
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        page = context.new_page()
        try:
            with loopback.stream("GET", f"{limited.url}/events", timeout=WAIT_MS / 1000) as held:
                lines = held.iter_lines()  # kept: a dropped iterator closes the response
                assert next(lines).startswith("retry:")  # the only place is taken
                page.goto(limited.url)
                expect(page.locator("#live")).to_have_attribute(
                    "data-status", "lost", timeout=WAIT_MS
                )
            # The held stream is closed: the page's next try (after 5 s) gets the place.
            expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)
            task_id = loopback.post(f"{limited.url}/tasks/noop").json()["id"]
            expect(task_row(page, task_id)).to_have_attribute(
                "data-state", "succeeded", timeout=WAIT_MS
            )
        finally:
            context.close()


def test_phone_width_fits_and_works(browser: Browser, server: Server, tmp_path: Path) -> None:
    with open_dashboard(browser, server.url, PHONE) as page:
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        task_id = start_task(page, "count", n=5, interval=0.05)
        row = task_row(page, task_id)
        expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        assert row.bounding_box()["width"] <= PHONE["width"]  # type: ignore[index]
        page.screenshot(path=tmp_path / "dashboard-phone.png", full_page=True)


def test_screenshot(browser: Browser, tmp_path: Path) -> None:
    """A representative page: tasks waiting, running, done, failed and cancelled."""
    settings = {"QUART_TASKS_MAX_RUNNING": "3", "QUART_BACKGROUND_TASK_SHUTDOWN_TIMEOUT": "1"}
    with running_server(tmp_path, settings) as server:
        api = loopback.client(base_url=server.url, timeout=10)

        def submit(name: str, body: dict[str, Any] | None = None, query: str = "") -> str:
            task_id: str = api.post(f"/tasks/{name}{query}", json=body or {}).json()["id"]
            return task_id

        def finished(task_id: str) -> None:
            url = f"{server.url}/tasks/{task_id}/events"
            with loopback.stream("GET", url, timeout=30) as stream:
                for _ in stream.iter_lines():  # the stream ends after the terminal state
                    pass

        finished(submit("count", {"n": 25, "interval": 0.01}))
        finished(submit("fail", {"message": "disk full: /var/reports"}, "?retries=1"))
        finished(submit("noop"))
        cancelled = submit("sleep", {"seconds": 60})
        api.delete(f"/tasks/{cancelled}")
        with open_dashboard(browser, server.url, DESKTOP) as page:
            running = start_task(page, "count", n=100, interval=0.05)
            submit("sleep", {"seconds": 30})
            submit("sleep", {"seconds": 45})
            submit("count", {"n": 50})  # waits: three are running
            page.wait_for_function(
                """id => {
                    const bar = document.querySelector(`tr.task[data-id="${id}"] progress`);
                    return bar && bar.value >= 35;
                }""",
                arg=running,
                timeout=WAIT_MS,
            )
            expect(page.locator('tr.task[data-state="queued"]')).to_have_count(1)
            page.wait_for_selector(".activity[data-loaded]", timeout=WAIT_MS)
            page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
            page.set_viewport_size(PHONE)  # type: ignore[arg-type]
            page.screenshot(path=tmp_path / "dashboard-phone.png", full_page=True)
        api.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    if os.environ.get("SAVE_SCREENSHOT"):
        for name in ("dashboard.png", "dashboard-phone.png"):
            (ROOT / "docs").mkdir(exist_ok=True)
            (ROOT / "docs" / name).write_bytes((tmp_path / name).read_bytes())
