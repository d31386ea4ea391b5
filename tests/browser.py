"""Shared pieces of the browser tests: Debian's chromium driven by Playwright.

Skipped only where /usr/bin/chromium is missing outside CI; in CI (``CI`` set) a missing
browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium (.ci/run)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@contextmanager
def open_dashboard(
    browser: Browser, url: str, viewport: dict[str, int], *, sign_in: str | None = None
) -> Iterator[Page]:
    """A fresh page on the dashboard, its stream connected; fails on script or CSP errors.

    With ``sign_in``, the page first signs in with that token on the sign-in form.
    """
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if "Refused to" in message.text else None,
    )
    page.goto(url)
    if sign_in is not None:
        page.fill("#token", sign_in)
        page.click("#sign-in button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)
    try:
        yield page
    finally:
        context.close()
    assert problems == []


def start_task(page: Page, name: str, **arguments: Any) -> str:
    """Fill and send the start form; return the new task's id."""
    page.select_option("#task-name", name)
    for key, value in arguments.items():
        page.fill(f"#arg-{name}-{key}", str(value))
    with page.expect_response(
        lambda response: response.request.method == "POST" and "/tasks/" in response.url
    ) as answer:
        page.click("#start-form button[type=submit]")
    assert answer.value.status == 202, answer.value.text()
    task_id: str = answer.value.json()["id"]
    return task_id


def task_row(page: Page, task_id: str) -> Locator:
    return page.locator(f'tr.task[data-id="{task_id}"]')
