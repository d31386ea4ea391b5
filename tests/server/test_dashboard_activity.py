"""The dashboard worth opening, in Chromium, under a url_prefix (``/jobs``): counts by state
and charts that show known data, search by text and id, bulk cancel, the task's own page,
relative times, a phone's width; ``SAVE_SCREENSHOT=1`` refreshes docs/task-page.png."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import loopback
from tests.browser import DESKTOP, PHONE, WAIT_MS, browser, open_dashboard, task_row
from tests.servers import ROOT, Server, running_server

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.server

APP = "tests.prefixed_app:create_app()"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("activity")
    env = {"QUART_TASKS_DATABASE": str(folder / "tasks.sqlite3")}
    with running_server(folder, env, app=APP, health_path="/jobs/healthz") as started:
        yield started


@pytest.fixture(scope="module")
def known(server: Server) -> dict[str, list[str]]:
    """Tasks of known outcomes: 3 noop succeeded, 2 fail failed, 1 sleep cancelled."""
    with loopback.client(base_url=f"{server.url}/jobs", timeout=10) as api:
        made = {
            "succeeded": [submit(api, "noop") for _ in range(3)],
            "failed": [submit(api, "fail", {"message": f"disk full: /var/{n}"}) for n in range(2)],
            "cancelled": [submit(api, "sleep", {"seconds": 60})],
        }
        api.delete(f"/tasks/{made['cancelled'][0]}")
        deadline = time.monotonic() + 30
        for state, ids in made.items():
            for task_id in ids:
                while api.get(f"/tasks/{task_id}").json()["state"] != state:
                    assert time.monotonic() < deadline, f"{task_id} is not {state}"
                    time.sleep(0.05)  # another process's task: poll its record
    return made


def submit(api: httpx.Client, name: str, body: dict[str, Any] | None = None) -> str:
    response = api.post(f"/tasks/{name}", json=body or {})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


@pytest.fixture
def page(browser: Browser, server: Server, known: dict[str, list[str]]) -> Iterator[Page]:
    with open_dashboard(browser, f"{server.url}/jobs/", DESKTOP) as opened:
        opened.wait_for_selector(".activity[data-loaded]", timeout=WAIT_MS)
        yield opened


def chart_counts(page: Page, state: str) -> int:
    counts: list[str] = page.eval_on_selector_all(
        f"#throughput-chart rect.bar-{state}", "bars => bars.map(bar => bar.dataset.count)"
    )
    return sum(int(count) for count in counts)


def test_counts_and_charts_show_what_the_store_holds(page: Page) -> None:
    counts = page.locator("#state-counts")
    expect(counts.locator('.count[data-state="succeeded"]')).to_have_text("3")
    expect(counts.locator('.count[data-state="failed"]')).to_have_text("2")
    expect(counts.locator('.count[data-state="cancelled"]')).to_have_text("1")
    assert (chart_counts(page, "succeeded"), chart_counts(page, "failed")) == (3, 2)
    assert chart_counts(page, "cancelled") == 1
    bar = page.locator("#throughput-chart rect.bar-failed").first
    assert "failed" in (bar.locator("title").text_content() or "")
    medians = page.eval_on_selector_all(
        "#duration-chart rect.bar-p50", "bars => bars.map(bar => bar.dataset.task)"
    )
    assert set(medians) >= {"noop", "fail"}
    assert page.locator('#duration-chart rect.bar-p95[data-task="noop"]').count() == 1
    noop = page.locator('#type-counts tr[data-task="noop"]')
    expect(noop.locator('td[data-state="succeeded"]')).to_have_text("3")
    fail = page.locator('#type-counts tr[data-task="fail"]')
    expect(fail.locator('td[data-state="failed"]')).to_have_text("2")
    page.select_option("#stats-window", "900")
    expect(counts.locator('.count[data-state="succeeded"]')).to_have_text("3")


def test_search_by_text_and_by_id(page: Page, known: dict[str, list[str]]) -> None:
    page.fill("#filter-q", "DISK FULL")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/jobs/?q=DISK+FULL")
    expect(page.locator("tr.task")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator('tr.task[data-state="failed"]')).to_have_count(2)
    wanted = known["succeeded"][1]
    page.fill("#filter-q", "")
    page.fill("#filter-id", wanted[:10])
    page.click("#filters button[type=submit]")
    expect(page.locator("tr.task")).to_have_count(1, timeout=WAIT_MS)
    expect(task_row(page, wanted)).to_be_visible()


def test_bulk_cancel_cancels_the_live_tasks_listed(page: Page, server: Server) -> None:
    with loopback.client(base_url=f"{server.url}/jobs", timeout=10) as api:
        sleepers = [submit(api, "sleep", {"seconds": 60}) for _ in range(3)]
    page.select_option("#filter-name", "sleep")
    for task_id in sleepers:
        expect(task_row(page, task_id)).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-cancel")
    for task_id in sleepers:
        expect(task_row(page, task_id)).to_have_attribute(
            "data-state", "cancelled", timeout=WAIT_MS
        )
    expect(page.locator("#bulk-status")).to_have_text("cancel: 3 of 3 done")


def test_the_task_has_a_page_of_its_own(
    browser: Browser, server: Server, known: dict[str, list[str]]
) -> None:
    failed = known["failed"][0]
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{server.url}/jobs/tasks/{failed}")
        root = page.locator("#task-detail")
        expect(root.locator(".detail-name")).to_have_text("fail")
        expect(root.locator(".detail-id")).to_have_text(failed)
        expect(root.locator(".detail-error-text")).to_contain_text("disk full: /var/0")
        expect(root.locator('dd[data-field="state"]')).to_have_text("failed")
        expect(root.locator("button.rerun")).to_be_visible()
        with page.expect_navigation():
            root.locator("button.rerun").click()
        assert page.url.startswith(f"{server.url}/jobs/tasks/")
        assert not page.url.endswith(failed)
        expect(page.locator("#task-detail .detail-name")).to_have_text("fail")
        assert page.locator("a[href='/jobs/docs']").count() == 1
        answer = loopback.get(f"{server.url}/jobs/tasks/{failed}", timeout=10)
        assert answer.headers["content-type"] == "application/json"  # not a browser: JSON
    finally:
        context.close()
    assert problems == []


def test_times_are_relative_with_the_exact_local_time_on_hover(
    page: Page, known: dict[str, list[str]]
) -> None:
    created = task_row(page, known["succeeded"][0]).locator("time.created")
    text = created.inner_text()
    assert text == "just now" or text.endswith(" ago"), text
    assert created.get_attribute("title")
    row = task_row(page, known["succeeded"][0])
    expect(row.locator(".progress-text")).not_to_contain_text("98 %")


def test_the_page_fits_a_phone_and_the_task_page_screenshot(
    browser: Browser, server: Server, known: dict[str, list[str]]
) -> None:
    shots = {}
    with open_dashboard(browser, f"{server.url}/jobs/", PHONE) as page:
        page.wait_for_selector(".activity[data-loaded]", timeout=WAIT_MS)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow} px wider than the screen"
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{server.url}/jobs/tasks/{known['failed'][0]}")
    expect(page.locator("#task-detail .detail-name")).to_have_text("fail")
    shots["task-page.png"] = page.screenshot(full_page=True)
    context.close()
    assert all(len(shot) > 10_000 for shot in shots.values())
    if os.environ.get("SAVE_SCREENSHOT"):
        for name, shot in shots.items():
            (ROOT / "docs" / name).write_bytes(shot)
