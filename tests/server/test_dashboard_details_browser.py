"""The dashboard's task detail, "Run again" and "Load older", in chromium against Hypercorn."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests import loopback
from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, start_task, task_row
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("details")) as started:
        yield started


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with open_dashboard(browser, server.url, DESKTOP) as opened:
        yield opened


def detail_field(page: Page, label: str) -> str:
    return page.locator(f'#task-detail dd[data-field="{label}"]').inner_text()


def test_the_detail_shows_every_field_and_the_attempts(page: Page) -> None:
    task_id = start_task(page, "fail", message="<b>disk</b> full")
    row = task_row(page, task_id)
    expect(row).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    row.locator("button.details").click()
    detail = page.locator("#task-detail")
    expect(detail).to_be_visible()
    expect(detail.locator(".detail-id")).to_have_text(task_id)
    assert detail_field(page, "state") == "failed"
    assert json.loads(detail_field(page, "arguments")) == {"message": "<b>disk</b> full"}
    assert detail_field(page, "attempts") == "1 of 1"
    assert detail_field(page, "cancel requested") == "no"
    for label in ("progress", "result", "timeout", "created", "started", "finished", "owner"):
        assert detail_field(page, label)
    expect(detail.locator(".detail-error-text")).to_have_text("RuntimeError: <b>disk</b> full")
    assert detail.locator("b").count() == 0
    trace = detail.locator(".detail-traceback")  # the task's own traceback, as text
    expect(trace).to_contain_text("raise RuntimeError(message)")
    expect(trace).to_contain_text("RuntimeError: <b>disk</b> full")
    steps = detail.locator(".detail-timeline li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("created, queued")
    expect(steps.nth(1)).to_contain_text("attempt 1 of 1 started")
    expect(steps.nth(2)).to_contain_text("failed (RuntimeError)")
    detail.locator("button.close").click()
    expect(detail).to_be_hidden()


def test_a_retried_task_shows_its_earlier_attempts(page: Page, server: Server) -> None:
    task_id = loopback.post(f"{server.url}/tasks/fail?retries=1", json={}).json()["id"]
    row = task_row(page, task_id)
    expect(row).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    row.locator("button.details").click()
    steps = page.locator("#task-detail .detail-timeline li")
    expect(steps).to_have_count(4)
    expect(steps.nth(1)).to_have_text("attempt 1 failed: RuntimeError; retried")
    expect(steps.nth(2)).to_contain_text("attempt 2 of 2 started")


def test_a_traceback_is_shown_as_text(page: Page, server: Server) -> None:
    task_id = loopback.post(f"{server.url}/tasks/fail", json={}).json()["id"]
    row = task_row(page, task_id)
    expect(row).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    trace = (
        'Traceback (most recent call last):\n  <img src=x onerror="window.__xss=1">\nRuntimeError'
    )

    def with_traceback(route: Route) -> None:
        record = route.fetch().json()
        record["error"]["traceback"] = trace
        route.fulfill(json=record)

    page.route(f"**/tasks/{task_id}", with_traceback)
    row.locator("button.details").click()
    shown = page.locator("#task-detail .detail-traceback")
    expect(shown).to_be_visible()
    expect(shown).to_have_text(trace)
    assert page.locator("#task-detail img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_the_detail_follows_a_running_task(page: Page) -> None:
    task_id = start_task(page, "count", n=10, interval=0.1)
    row = task_row(page, task_id)
    row.locator("button.details").click()
    detail = page.locator("#task-detail")
    expect(detail).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    assert detail_field(page, "result") == "10"
    expect(detail.locator("button.rerun")).to_be_visible()


def test_run_again_starts_the_same_task_anew(page: Page) -> None:
    first = start_task(page, "count", n=3, interval=0.01)
    row = task_row(page, first)
    expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    expect(row.locator("button.rerun")).to_be_visible()
    with page.expect_response(lambda response: response.url.endswith("/rerun")) as answer:
        row.locator("button.rerun").click()
    assert answer.value.status == 202
    again = answer.value.json()
    assert again["id"] != first
    assert again["kwargs"] == {"n": 3, "interval": 0.01}
    new_row = task_row(page, again["id"])
    expect(new_row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    expect(new_row.locator(".outcome")).to_have_text("3")
    assert page.locator("tr.task").first.get_attribute("data-id") == again["id"]


def test_run_again_from_the_detail(page: Page) -> None:
    first = start_task(page, "noop")
    row = task_row(page, first)
    expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    expect(row.locator("button.cancel")).to_be_hidden()
    row.locator("button.details").click()
    detail = page.locator("#task-detail")
    detail.locator("button.rerun").click()
    expect(detail.locator(".detail-id")).not_to_have_text(first, timeout=WAIT_MS)
    new_id = detail.locator(".detail-id").inner_text()
    expect(task_row(page, new_id)).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)


def test_load_older_pages_back_beyond_the_newest_100(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with running_server(tmp_path_factory.mktemp("older")) as server:
        with loopback.client(base_url=server.url, timeout=10) as client:
            made = [client.post("/tasks/noop").json()["id"] for _ in range(130)]
            deadline = time.monotonic() + 30
            while (
                client.get("/healthz").json()["waiting"] or client.get("/healthz").json()["running"]
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)  # the server runs them: nothing here to wait on
        with open_dashboard(browser, server.url, DESKTOP) as page:
            expect(page.locator("tr.task")).to_have_count(100)
            older = page.locator("#load-older")
            expect(older).to_be_visible()
            older.click()
            expect(page.locator("tr.task")).to_have_count(130, timeout=WAIT_MS)
            expect(older).to_be_hidden()
            expect(page.locator("#older-status")).to_have_text("no older tasks")
            shown = page.locator("tr.task").evaluate_all("rows => rows.map(row => row.dataset.id)")
            assert shown == made[::-1]
            # a new task still comes in at the top, and the older rows stay
            newest = loopback.post(f"{server.url}/tasks/noop").json()["id"]
            expect(task_row(page, newest)).to_have_attribute(
                "data-state", "succeeded", timeout=WAIT_MS
            )
            expect(page.locator("tr.task")).to_have_count(131)


def test_a_workflow_shows_its_steps_and_links_parent_and_children(
    page: Page, server: Server
) -> None:
    body = {"order_id": 12, "recipients": 2}
    order = loopback.post(f"{server.url}/tasks/fulfil", json=body, timeout=10).json()["id"]
    row = task_row(page, order)
    expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
    row.locator("button.details").click()
    detail = page.locator("#task-detail")
    timeline = detail.locator(".detail-timeline")
    for name in ("charge", "invoice", "notify"):
        expect(timeline).to_contain_text(f"step {name} succeeded")
    children = detail.locator('dd[data-field="children (2)"] button.task-link')
    expect(children).to_have_count(2)
    child = children.nth(0).get_attribute("data-id")
    assert child is not None
    children.nth(0).click()  # the child's own detail, which links back to the order
    expect(detail.locator(".detail-id")).to_have_text(child)
    expect(detail.locator(".detail-name")).to_have_text("send_email")
    parent = detail.locator('dd[data-field="parent"] button.task-link')
    expect(parent).to_have_attribute("data-id", order)
    parent.click()
    expect(detail.locator(".detail-id")).to_have_text(order)
