"""Concurrency and rate limits with real processes, counted from the records' own times.

On SQLite with ``hypercorn -w 2`` and on PostgreSQL with two ``quart tasks worker``
processes (taking tasks from the store, or through Redis), every process holding some of
each batch: ``render_pdf`` (``concurrency=2``) never has more than two running at once,
``tenant_export`` (``concurrency=1`` per tenant) never two of one tenant, ``notify``
(``rate_limit="5/s"``) never more than five starts in a second; each batch still finishes,
every task in one attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.server.test_durability import all_ended, post, wait_until
from tests.servers import connection_to_each_worker, running_server
from tests.workers import Worker, web_and_workers

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

APP = "tests.worker_app:create_app()"


def most_at_once(records: Iterable[dict[str, Any]]) -> int:
    """The most records running at one moment, from their ``started_at`` and ``finished_at``."""
    edges = []
    for record in records:
        edges.append((datetime.fromisoformat(record["started_at"]), 1))
        edges.append((datetime.fromisoformat(record["finished_at"]), -1))
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # ends before starts
        running += step
        most = max(most, running)
    return most


def most_started_within(records: Iterable[dict[str, Any]], seconds: float) -> int:
    starts = sorted(datetime.fromisoformat(record["started_at"]) for record in records)
    return max(
        sum(1 for other in starts if 0 <= (other - start).total_seconds() < seconds)
        for start in starts
    )


def submit_batches(submit: Any) -> dict[str, list[str]]:
    """The three limited batches, through ``submit(name, body)``."""
    return {
        "render_pdf": [submit("render_pdf", {"seconds": 0.2}) for _ in range(8)],
        "tenant_export": [
            submit("tenant_export", {"tenant": tenant, "seconds": 0.2})
            for _ in range(3)
            for tenant in ("acme", "globex")
        ],
        "notify": [submit("notify", {"to": f"{n}@example.com"}) for n in range(14)],
    }


def check_limits(seen: dict[str, dict[str, Any]], batches: dict[str, list[str]]) -> None:
    ended = {name: [seen[i] for i in ids] for name, ids in batches.items()}
    for name, records in ended.items():
        assert {(record["state"], record["attempts"]) for record in records} == {
            ("succeeded", 1)
        }, name
    assert most_at_once(ended["render_pdf"]) == 2  # two at once: no more, and no fewer
    for tenant in ("acme", "globex"):
        exports = [r for r in ended["tenant_export"] if r["kwargs"]["tenant"] == tenant]
        assert most_at_once(exports) == 1
    assert most_at_once(ended["tenant_export"]) == 2  # the two tenants side by side
    # the store admits exactly; a time kept to the microsecond may put one more in a window
    assert most_started_within(ended["notify"], 1.0) <= 6
    starts = sorted(datetime.fromisoformat(r["started_at"]) for r in ended["notify"])
    assert (starts[-1] - starts[0]).total_seconds() >= 2.0  # 14 starts at 5 a second


def test_limits_hold_across_two_hypercorn_processes_on_sqlite(tmp_path: Path) -> None:
    env = {"QUART_TASKS_MAX_RUNNING": "4", "QUART_TASKS_POLL_INTERVAL": "0.25"}
    with running_server(tmp_path, env, workers=2, app=APP) as server:
        clients = list(connection_to_each_worker(server, 2).values())
        try:
            turn = iter(range(1_000))

            def submit(name: str, body: dict[str, Any]) -> str:
                client = clients[next(turn) % 2]  # each process holds half of each batch
                response = client.post(f"/tasks/{name}", json=body)
                assert response.status_code == 202, response.text
                task_id: str = response.json()["id"]
                return task_id

            batches = submit_batches(submit)
            every = [i for ids in batches.values() for i in ids]
            seen = wait_until(server, all_ended(every), timeout=90)
        finally:
            for client in clients:
                client.close()
    assert len({seen[i]["owner"] for i in batches["render_pdf"]}) == 2
    check_limits(seen, batches)


def test_limits_hold_across_two_workers_on_postgres(
    tmp_path: Path, postgres_url: str, handoff: dict[str, str]
) -> None:
    """Workers that take their tasks from the store, or through a Redis stream."""
    env = {"QUART_TASKS_DATABASE": postgres_url, "QUART_TASKS_POLL_INTERVAL": "0.25", **handoff}
    workers = [
        Worker(env, app=APP, log_path=tmp_path / f"w{n}.log", concurrency=4) for n in range(2)
    ]
    with web_and_workers(env, workers, log_path=tmp_path / "web.log", app=APP) as web:
        batches = submit_batches(lambda name, body: post(web, name, body))
        every = [i for ids in batches.values() for i in ids]
        seen = wait_until(web, all_ended(every), timeout=90)
    check_limits(seen, batches)


def test_a_process_killed_with_9_leaves_no_place_taken(tmp_path: Path) -> None:
    """Its two running ``render_pdf`` held both places; the next server's claim sees it has
    gone, ends them (``interrupted``), and a new ``render_pdf`` runs at once."""
    env = {"QUART_TASKS_MAX_RUNNING": "4", "QUART_TASKS_POLL_INTERVAL": "0.25"}
    with running_server(tmp_path, env) as server:
        held = [post(server, "render_pdf", {"seconds": 600}) for _ in range(2)]
        waiting = post(server, "render_pdf", {"seconds": 0})
        seen = wait_until(server, lambda seen: all(seen[i]["state"] == "running" for i in held))
        assert seen[waiting]["state"] == "queued"
        server.kill()
    with running_server(tmp_path, env) as server:
        fresh = post(server, "render_pdf", {"seconds": 0})
        seen = wait_until(server, all_ended([*held, waiting, fresh]), timeout=60)
    assert [seen[i]["error"]["type"] for i in held] == ["interrupted", "interrupted"]
    assert (seen[waiting]["state"], seen[fresh]["state"]) == ("succeeded", "succeeded")
