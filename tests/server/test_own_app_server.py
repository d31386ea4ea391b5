"""The README's own-app example on real processes: its pytest example run as written, and
the app served by Hypercorn with the blueprint under /jobs, in a browser too."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests import loopback
from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, start_task, task_row
from tests.readme_examples import write_own_app
from tests.servers import Server, running_server, tool_environment

__all__ = ["browser"]  # the fixture, used by name


def test_the_readmes_pytest_example_passes_as_written(tmp_path: Path) -> None:
    folder = write_own_app(tmp_path / "project")
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_myapp.py"],
        cwd=folder,
        env=tool_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The README's app on a real Hypercorn, its store in its instance folder."""
    folder = write_own_app(tmp_path_factory.mktemp("own-app"))
    with running_server(
        folder,
        {"PYTHONPATH": str(folder)},
        app="myapp:create_app()",
        health_path="/jobs/healthz",
        cwd=folder,
    ) as server:
        yield server


@pytest.mark.server
def test_hypercorn_serves_the_app_and_its_prefixed_api(own_server: Server) -> None:
    started = loopback.post(f"{own_server.url}/reports/5", timeout=10)
    assert started.status_code == 202
    task_id = started.json()["id"]
    url = f"{own_server.url}/jobs/tasks/{task_id}/events"
    with loopback.stream("GET", url, timeout=30) as events:
        lines = [line for line in events.iter_lines() if line.startswith("data:")]
    assert '"state":"succeeded"' in lines[-1]
    assert loopback.get(f"{own_server.url}/jobs/tasks/{task_id}", timeout=10).json()["result"] == {
        "user_id": 5,
        "format": "pdf",
    }


@pytest.mark.server
def test_the_dashboard_works_under_the_prefix_in_a_browser(
    browser: Browser, own_server: Server
) -> None:
    with open_dashboard(browser, f"{own_server.url}/jobs/", DESKTOP) as page:
        task_id = start_task(page, "send_report", user_id=42)
        row = task_row(page, task_id)
        expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        expect(row.locator(".outcome")).to_have_text('{"user_id": 42, "format": "pdf"}')
        assert row.locator("a.task-id").get_attribute("href") == f"/jobs/tasks/{task_id}"
        # a task started elsewhere reaches the page through the prefixed event stream
        other = loopback.post(f"{own_server.url}/reports/43", timeout=10).json()["id"]
        expect(task_row(page, other)).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        page.select_option("#filter-name", "send_report")  # the filter form's action
        page.wait_for_url("**/jobs/?state=&name=send_report")
        expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)
