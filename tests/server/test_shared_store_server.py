"""Two real servers of different apps on one SQLite file: neither fails the other's tasks.

App A (``a_task``) stops with tasks waiting, as the old version of an app does in a rolling
deploy; app B (``b_task``) goes on claiming and taking due tasks from the same file, shows
A's tasks as waiting for a runner (``/healthz``, the record, the dashboard in a browser)
and leaves them to A, which runs them once it is back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests import loopback
from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, task_row
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name

MARKER = "waiting for a process that runs a_task"


def post(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = loopback.post(f"{server.url}{path}", json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    record: dict[str, Any] = answer.json()
    return record


def read(server: Server, path: str) -> Any:
    answer = loopback.get(f"{server.url}{path}", timeout=10)
    assert answer.status_code in (200, 503), answer.text
    return answer.json()


def ended(server: Server, task_id: str) -> dict[str, Any]:
    """The task's record once it has ended: its event stream closes after the last state."""
    with loopback.stream("GET", f"{server.url}/tasks/{task_id}/events", timeout=30) as events:
        for _ in events.iter_lines():
            pass
    record: dict[str, Any] = read(server, f"/tasks/{task_id}")
    return record


def seconds_until(moment: str) -> float:
    return (datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds()


@pytest.mark.server
def test_two_apps_on_one_file_leave_each_other_their_tasks(
    tmp_path: Path, browser: Browser
) -> None:
    env = {
        "QUART_TASKS_DATABASE": str(tmp_path / "shared.sqlite3"),
        "QUART_TASKS_POLL_INTERVAL": "0.1",
        "QUART_TASKS_MAX_RUNNING": "1",
    }
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    with (
        running_server(tmp_path / "b", env, app="tests.pair_apps:create_b()") as b,
        open_dashboard(browser, b.url, DESKTOP) as page,
    ):
        with running_server(tmp_path / "a", env, app="tests.pair_apps:create_a()") as a:
            theirs = [post(a, "/tasks/a_task", {"seconds": 1}) for _ in range(3)]
            later = post(a, "/tasks/a_task?delay=2", {})
            a.stop()  # the running one finishes; the others go back to the store, unheld
        # B's own delayed task comes due after A's: its alarm and every claiming round
        # (each 0.1 s) pass over A's due and queued tasks
        wait = max(0.5, seconds_until(later["run_at"]) + 0.5)
        mine = post(b, f"/tasks/b_task?delay={wait:.3f}", {"n": 3})
        assert ended(b, mine["id"])["result"] == 3

        records = [read(b, f"/tasks/{task['id']}") for task in (*theirs, later)]
        states = [record["state"] for record in records]
        assert states[-1] == "scheduled"
        assert set(states[:-1]) <= {"succeeded", "queued"}
        assert "queued" in states
        for record in records:
            waiting = record["state"] != "succeeded"
            assert (record["waiting_for_runner"] or "").startswith(MARKER) is waiting
            assert record["attempts"] == (0 if waiting else 1)
            expect(task_row(page, record["id"]).locator(".waiting-for")).to_have_text(
                MARKER if waiting else "", timeout=WAIT_MS
            )
        assert read(b, "/healthz")["waiting_for_runner"] == {"a_task": states.count("queued")}
        expect(task_row(page, mine["id"]).locator(".waiting-for")).to_be_hidden()

        with running_server(tmp_path / "a", env, app="tests.pair_apps:create_a()") as a:
            for record in records:
                assert ended(a, record["id"])["state"] == "succeeded"
        for record in records:
            expect(task_row(page, record["id"]).locator(".waiting-for")).to_be_hidden(
                timeout=WAIT_MS
            )
        assert read(b, "/healthz")["waiting_for_runner"] == {}
