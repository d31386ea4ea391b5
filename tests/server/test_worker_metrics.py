"""A worker's own metrics: ``quart tasks worker --metrics-port`` serves ``/metrics`` on
loopback, counting exactly the tasks that worker ran, through the store or a broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import loopback
from tests.server.test_durability import all_ended, post, wait_until
from tests.workers import Worker, web_and_workers

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

APP = "tests.worker_app:create_app()"


def scrape(worker: Worker) -> str:
    found = re.search(r"metrics at (http://127\.0\.0\.1:\d+/metrics)", worker.log())
    assert found is not None, worker.log()
    response = loopback.get(found.group(1), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{series} is not in:\n{text}"
    return float(found.group(1))


def test_each_worker_counts_the_tasks_it_ran(
    tmp_path: Path, postgres_url: str, handoff: dict[str, str]
) -> None:
    env = {"QUART_TASKS_DATABASE": postgres_url, "QUART_TASKS_POLL_INTERVAL": "0.25", **handoff}
    workers = [
        Worker(
            env,
            app=APP,
            log_path=tmp_path / f"w{n}.log",
            concurrency=2,
            extra_args=("--metrics-port", "0"),
        )
        for n in range(2)
    ]
    with web_and_workers(env, workers, log_path=tmp_path / "web.log", app=APP) as web:
        ok = [post(web, "whoami", {"seconds": 0.05}) for _ in range(10)]
        failed = [post(web, "fail", {}) for _ in range(3)]
        seen = wait_until(web, all_ended(ok + failed), timeout=60)
        texts = {worker.pid: scrape(worker) for worker in workers}
    assert {seen[i]["state"] for i in ok} == {"succeeded"}
    for pid, text in texts.items():
        ran = sum(1 for i in ok if seen[i]["result"] == pid)
        assert sample(text, 'tasks_finished_total{state="succeeded",task="whoami"}') == ran
        assert sample(text, 'tasks_duration_seconds_count{task="whoami"}') == ran
    failures = sum(
        sample(text, 'tasks_finished_total{state="failed",task="fail"}') for text in texts.values()
    )
    assert failures == 3
