"""The dashboard with delayed tasks: the scheduled state, run_at, the filter, Cancel, delay.

The page as rendered by the server here; in a real browser (Debian's chromium, skipped
without it outside CI): a task started with a delay from the form, its detail, its Cancel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, task_row
from tests.harness import Served
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name


async def test_a_scheduled_task_shows_its_state_its_time_and_a_cancel_button(api: Served) -> None:
    record = await api.submit("noop", delay="3600")
    page = await (await api.client.get("/")).get_data(as_text=True)
    assert f'data-id="{record["id"]}" data-state="scheduled"' in page
    # the page shows when, relative to now, from the exact time it carries
    assert f'runs <time class="rel" datetime="{record["run_at"]}">' in page
    row = page[page.index(f'data-id="{record["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert '<button type="button" class="cancel">Cancel</button>' in row
    assert '<option value="scheduled">scheduled</option>' in page
    assert 'id="option-delay" name="delay"' in page
    filtered = await (await api.client.get("/?state=scheduled")).get_data(as_text=True)
    assert f'data-id="{record["id"]}"' in filtered
    others = await (await api.client.get("/?state=queued")).get_data(as_text=True)
    assert f'data-id="{record["id"]}"' not in others


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("dashboard-later")) as started:
        yield started


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with open_dashboard(browser, server.url, DESKTOP) as opened:
        yield opened


@pytest.mark.server
def test_a_task_started_with_a_delay_waits_scheduled_and_is_cancelled(page: Page) -> None:
    page.select_option("#task-name", "noop")
    page.click("#start-form details.options summary")
    page.fill("#option-delay", "3600")
    with page.expect_response(
        lambda response: response.request.method == "POST" and "/tasks/" in response.url
    ) as answer:
        page.click("#start-form button[type=submit]")
    assert answer.value.status == 202, answer.value.text()
    record = answer.value.json()
    assert "delay=3600" in answer.value.url
    row = task_row(page, record["id"])
    expect(row).to_have_attribute("data-state", "scheduled", timeout=WAIT_MS)
    expect(row.locator(".progress-text")).to_have_text(re.compile(r"runs in (60 min|1 h)"))
    due = row.locator(".progress-text time")
    expect(due).to_have_attribute("datetime", record["run_at"])
    assert due.get_attribute("title")  # the exact local time, on hover
    expect(page.locator("#form-status")).to_contain_text("scheduled for")
    row.locator("button.details").click()
    detail = page.locator("#task-detail")
    expect(detail.locator('[data-field="run at"]')).to_be_visible()
    expect(detail.locator(".detail-timeline li").nth(0)).to_contain_text("created, scheduled")
    expect(detail.locator(".detail-timeline li").nth(1)).to_contain_text("due")
    detail.locator("button.close").click()
    row.locator("button.cancel").click()
    expect(row).to_have_attribute("data-state", "cancelled", timeout=WAIT_MS)
    expect(row.locator("button.cancel")).to_be_hidden()
