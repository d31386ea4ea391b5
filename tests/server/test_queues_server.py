"""Pausing a queue on a real server: ``hypercorn -w 2`` on one SQLite file, where a pause sent
to one process holds in the other at once and across a restart; the command line with
``--url``; the dashboard's Pause and Resume buttons."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests import loopback
from tests.browser import DESKTOP, PHONE, WAIT_MS, browser, open_dashboard, task_row
from tests.conftest import AppFactory
from tests.servers import Server, connection_to_each_worker, running_server

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.server

#: seconds each check that nothing starts lasts (about ten claiming rounds of each process)
QUIET = 2.0
ENV = {"QUART_TASKS_POLL_INTERVAL": "0.2"}


def answer(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def records(client: httpx.Client, ids: list[str]) -> list[dict[str, Any]]:
    return [answer(client.get(f"/tasks/{task_id}")) for task_id in ids]


def assert_none_starts(client: httpx.Client, ids: list[str]) -> None:
    """For :data:`QUIET` seconds, every task stays queued, never started (bounded polling of
    other processes: there is no event to wait on for something that must not happen)."""
    deadline = time.monotonic() + QUIET
    while True:
        for record in records(client, ids):
            assert (record["state"], record["attempts"], record["started_at"]) == (
                "queued",
                0,
                None,
            ), record
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def wait_until_unheld(client: httpx.Client, ids: list[str]) -> None:
    """Until each task was handed back by the process that accepted it, at its start."""
    deadline = time.monotonic() + 10
    while any(record["owner"] is not None for record in records(client, ids)):
        assert time.monotonic() < deadline, records(client, ids)
        time.sleep(0.05)


def default_queue(client: httpx.Client) -> dict[str, Any]:
    queues = answer(client.get("/queues"))["queues"]
    found: dict[str, Any] = next(queue for queue in queues if queue["name"] == "default")
    return found


def tasks_command(make_app: AppFactory, server: Server, *args: str) -> Any:
    """``quart tasks ARGS --url SERVER --json`` in this process; its JSON."""
    app = make_app(TASKS_DATABASE=":memory:")
    result = app.test_cli_runner().invoke(args=["tasks", *args, "--url", server.url, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_pause_holds_in_every_worker_and_across_a_restart(
    tmp_path: Path, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)
    with running_server(tmp_path, ENV, workers=2) as server:
        clients = list(connection_to_each_worker(server, 2).values())
        paused = answer(clients[0].post("/queues/default/pause"))
        assert (paused["name"], paused["paused"]) == ("default", True)
        # right after the pause's answer, through each process: the other one has not
        # been told, and must not start them all the same
        accepted = [
            answer(clients[n % 2].post("/tasks/count", json={"n": 1, "interval": 0}), 202)
            for n in range(6)
        ]
        assert len({record["owner"] for record in accepted}) == 2  # held by each at first
        ids = [record["id"] for record in accepted]
        wait_until_unheld(clients[0], ids)
        assert_none_starts(clients[1], ids)
        for client in clients:
            assert (default_queue(client)["paused"], default_queue(client)["waiting"]) == (True, 6)
        listed = tasks_command(make_app, server, "queues")["queues"]
        assert {queue["name"]: queue["waiting"] for queue in listed}["default"] == 6
        for client in clients:
            client.close()

        server.stop()
        server.start()  # the same file: the pause is in it
        clients = list(connection_to_each_worker(server, 2).values())
        assert default_queue(clients[0])["paused"] is True
        assert_none_starts(clients[1], ids)

        resumed = tasks_command(make_app, server, "resume", "default")
        assert resumed["paused"] is False  # its tasks may be running or done already
        deadline = time.monotonic() + 20
        while {record["state"] for record in records(clients[0], ids)} != {"succeeded"}:
            assert time.monotonic() < deadline, records(clients[0], ids)
            time.sleep(0.1)
        assert default_queue(clients[1])["waiting"] == 0
        for client in clients:
            client.close()


def test_the_dashboard_pauses_and_resumes_a_queue(browser: Browser, tmp_path: Path) -> None:
    with running_server(tmp_path, ENV) as server:
        with open_dashboard(browser, server.url, DESKTOP) as page:
            row = page.locator('tr.queue[data-name="default"]')
            expect(row.locator(".queue-state")).to_have_text("running", timeout=WAIT_MS)
            email = page.locator('tr.queue[data-name="email"] .queue-limits')
            expect(email).to_have_text("send_email: 4 at once, 10/s")
            expect(row.locator(".queue-limits")).to_contain_text(
                "tenant_export: 1 at once per tenant"
            )
            limits = page.locator('fieldset[data-task="render_pdf"] .task-limits')
            expect(limits).to_have_text(
                "Limits: at most 2 running at once, across every process.", use_inner_text=True
            )
            row.locator("button.queue-toggle").click()
            expect(row.locator(".queue-state")).to_have_text("paused", timeout=WAIT_MS)
            expect(row.locator("button.queue-toggle")).to_have_text("Resume")
            assert loopback.get(f"{server.url}/queues").json()["queues"][0]["paused"] is True

            task_id = loopback.post(f"{server.url}/tasks/noop").json()["id"]
            expect(task_row(page, task_id)).to_have_attribute("data-state", "queued")
            expect(row.locator(".queue-waiting")).to_have_text("1", timeout=WAIT_MS)
            row.locator("button.queue-toggle").click()
            expect(row.locator(".queue-state")).to_have_text("running", timeout=WAIT_MS)
            expect(task_row(page, task_id)).to_have_attribute(
                "data-state", "succeeded", timeout=WAIT_MS
            )
            expect(row.locator(".queue-waiting")).to_have_text("0", timeout=WAIT_MS)
        with open_dashboard(browser, server.url, PHONE) as page:
            expect(page.locator("tr.queue")).to_have_count(2, timeout=WAIT_MS)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
