"""``GET /metrics``: the tasks_* series, kept from the runner's writes, summed over workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tasks import Registry
from tasks.app.metrics_files import forget_dead_processes
from tests import loopback
from tests.conftest import RegistryAppFactory, ServeFactory
from tests.harness import Served, serving
from tests.servers import ROOT, running_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(api: Served) -> Samples:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return parse(await response.get_data(as_text=True))


async def test_counters_gauges_and_histograms_follow_the_tasks(
    make_registry_app: RegistryAppFactory,
) -> None:
    # Names of this test's own: the pytest process shares one set of metrics files.
    suffix = uuid.uuid4().hex[:8]
    registry = Registry()
    gate = asyncio.Event()

    @registry.task(f"gated_{suffix}")
    async def gated() -> None:
        await gate.wait()

    @registry.task(f"flaky_{suffix}", retries=1, backoff=0.01)
    async def flaky() -> None:
        raise RuntimeError("no")

    async with serving(make_registry_app(registry, TASKS_MAX_RUNNING=1)) as api:
        first = await api.submit(gated.definition.name)
        second = await api.submit(gated.definition.name)
        await api.until(first["id"], lambda record: record.state.value == "running")
        samples = await scrape(api)
        task = {"task": gated.definition.name}
        assert value(samples, "tasks_submitted_total", **task) == 2
        assert value(samples, "tasks_running", **task) == 1
        assert value(samples, "tasks_waiting", **task) == 1
        assert value(samples, "tasks_queue_wait_seconds_count", **task) == 1

        gate.set()
        await api.finished(second["id"])
        failed = await api.submit(flaky.definition.name)
        await api.finished(failed["id"])
        await api.wait_all()
        samples = await scrape(api)
        assert value(samples, "tasks_running", **task) == 0
        assert value(samples, "tasks_waiting", **task) == 0
        assert value(samples, "tasks_finished_total", state="succeeded", **task) == 2
        assert value(samples, "tasks_duration_seconds_count", **task) == 2
        assert value(samples, "tasks_queue_wait_seconds_count", **task) == 2
        flaky_task = {"task": flaky.definition.name}
        assert value(samples, "tasks_retries_total", **flaky_task) == 1
        assert value(samples, "tasks_finished_total", state="failed", **flaky_task) == 1
        assert value(samples, "tasks_duration_seconds_count", **flaky_task) == 2  # two attempts
        assert value(samples, "tasks_submitted_total", **flaky_task) == 1


async def test_every_registered_task_shows_from_the_start(serve: ServeFactory) -> None:
    async with serve(TASKS_DATABASE=":memory:") as api:
        samples = await scrape(api)
        for name in ("count", "export", "fail", "noop", "sleep"):
            assert ("tasks_submitted_total", frozenset({("task", name)})) in samples


async def test_refused_submissions_are_counted_by_reason(serve: ServeFactory) -> None:
    async with serve(TASKS_DATABASE=":memory:", TASKS_MAX_QUEUED=0) as api:
        before = value(await scrape(api), "tasks_refused_total", reason="queue_full")
        response = await api.client.post("/tasks/noop")
        assert response.status_code == 503
        after = value(await scrape(api), "tasks_refused_total", reason="queue_full")
        assert after == before + 1


async def test_metrics_can_be_turned_off(serve: ServeFactory) -> None:
    async with serve(TASKS_DATABASE=":memory:", TASKS_METRICS=False) as api:
        response = await api.client.get("/metrics")
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "metrics_disabled"


def test_a_process_that_exits_keeps_its_counts_and_drops_its_gauges(tmp_path: Path) -> None:
    """Two processes in turn share one metrics folder, as a server's workers do."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    runs = [
        subprocess.run(
            [sys.executable, "-m", "tests.metrics_worker", str(count)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for count in (3, 2)
    ]
    samples = parse(runs[1])
    assert value(samples, "tasks_finished_total", task="noop", state="succeeded") == 5
    assert value(samples, "tasks_running", task="noop") == 0
    assert value(samples, "tasks_waiting", task="noop") == 0


def test_an_app_that_imported_prometheus_client_first_counts_its_own_process() -> None:
    script = (
        "import prometheus_client\n"
        "from tasks.app.metrics import TaskMetrics\n"
        "metrics = TaskMetrics(['noop'])\n"
        "print(metrics.multiprocess)\n"
        "print(metrics.render().decode())\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("False\n")
    assert value(parse(result.stdout.split("\n", 1)[1]), "tasks_submitted_total", task="noop") == 0
    assert "set PROMETHEUS_MULTIPROC_DIR" in result.stderr


def test_gauges_of_a_process_that_died_are_dropped(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    pid = int(dead.stdout)
    (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
    (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    forget_dead_processes(str(tmp_path))
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"counter_{pid}.db"]


@pytest.mark.server
def test_every_scrape_of_a_two_worker_server_shows_every_task(tmp_path: Path) -> None:
    tasks = 40
    expected = ("tasks_finished_total", frozenset({("task", "noop"), ("state", "succeeded")}))
    with running_server(tmp_path, workers=2) as server:
        # A new connection per request: the kernel spreads connections over both workers,
        # once both have started to accept (on a busy machine one may start late).
        workers: set[str] = set()
        deadline = time.monotonic() + 30
        while len(workers) < 2:
            assert time.monotonic() < deadline, f"only {workers} answered within 30 s"
            workers.add(loopback.get(f"{server.url}/healthz").json()["worker"])
        for _ in range(tasks):
            assert loopback.post(f"{server.url}/tasks/noop").status_code == 202

        def finished() -> float:
            return parse(loopback.get(f"{server.url}/metrics").text).get(expected, 0)

        deadline = time.monotonic() + 20
        while finished() < tasks:
            assert time.monotonic() < deadline, "the tasks did not all finish in 20 s"
            time.sleep(0.05)  # the workers are other processes: nothing here to wait on
        assert [finished() for _ in range(5)] == [tasks] * 5
