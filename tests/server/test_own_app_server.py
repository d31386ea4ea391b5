"""The docs' own-app example on real processes: its pytest example run as written, and
the app served by Hypercorn with the blueprint under /jobs, in a browser too, its settings
from the environment and the ``tasks`` commands available without wiring."""

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
    """The docs' own app on a real Hypercorn, its store in its instance folder."""
    folder = write_own_app(tmp_path_factory.mktemp("own-app"))
    with running_server(
        folder,
        {"PYTHONPATH": str(folder), "QUART_TASKS_DATABASE": str(folder / "from-env.sqlite3")},
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
        page.wait_for_url("**/jobs/?name=send_report")
        expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)


@pytest.mark.server
def test_the_app_takes_its_store_from_the_environment_and_says_so(own_server: Server) -> None:
    store = own_server.cwd / "from-env.sqlite3"
    assert store.exists()
    ready = [line for line in own_server.log().splitlines() if "tasks ready" in line]
    assert ready, own_server.log()
    assert f"tasks ready (standalone): store {store}, broker none" in ready[0]


@pytest.mark.server
def test_the_tasks_commands_work_in_the_app_without_wiring(own_server: Server) -> None:
    task_id = loopback.post(f"{own_server.url}/reports/9", timeout=10).json()["id"]
    status = loopback.get(f"{own_server.url}/reports/status/{task_id}", timeout=10)
    assert status.status_code == 200
    missing = loopback.get(f"{own_server.url}/reports/status/nothing", timeout=10)
    assert missing.status_code == 404
    quart = Path(sys.executable).with_name("quart")
    listed = subprocess.run(
        [str(quart), "--app", "myapp:create_app()", "tasks", "list", "--name", "send_report"],
        cwd=own_server.cwd,
        env={
            **tool_environment(),
            "PYTHONPATH": str(own_server.cwd),
            "QUART_TASKS_DATABASE": str(own_server.cwd / "from-env.sqlite3"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert task_id in listed.stdout
