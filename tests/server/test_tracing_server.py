"""Tracing as a new user turns it on: the example app under ``opentelemetry-instrument
--traces_exporter console``, a ``traceparent`` header on ``POST /tasks/count``, and the
``run count`` span printed in that trace, with the task's id; on PostgreSQL the span is
printed by the worker that ran it (taking it from the store, or from Redis)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import loopback
from tests.servers import Server
from tests.workers import Worker

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
INSTRUMENT = (
    str(Path(sys.executable).parent / "opentelemetry-instrument"),
    "--traces_exporter", "console",
    "--metrics_exporter", "none",
    "--logs_exporter", "none",
)  # fmt: skip
#: spans are printed every 50 ms rather than every 5 s
OTEL_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "tasks-test"}


def printed_spans(log: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed among the process's other lines."""
    decoder = json.JSONDecoder()
    spans, position = [], 0
    while (start := log.find("\n{", position)) != -1:
        try:
            span, position = decoder.raw_decode(log, start + 1)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(span, dict) and "name" in span and "context" in span:
            spans.append(span)
    return spans


def traced_post(server: Server, name: str, body: dict[str, Any]) -> str:
    response = loopback.post(
        f"{server.url}/tasks/{name}", json=body, headers={"traceparent": TRACEPARENT}, timeout=10
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def wait_for_span(read_log: Any, name: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for span in printed_spans(read_log()):
            if span["name"] == name and span["attributes"].get("task.id") == task_id:
                return span
        time.sleep(0.05)  # another process's output: nothing to wait on
    raise AssertionError(f"no span {name!r} for {task_id} in:\n{read_log()[-3000:]}")


def test_the_example_app_prints_the_task_span_in_the_request_s_trace(tmp_path: Path) -> None:
    env = {**OTEL_ENV, "QUART_TASKS_DATABASE": str(tmp_path / "tasks.sqlite3")}
    server = Server(env, log_path=tmp_path / "server.log", launcher=INSTRUMENT).start()
    try:
        task_id = traced_post(server, "count", {"n": 3, "interval": 0})
        run = wait_for_span(server.log, "run count", task_id)
        submit = wait_for_span(server.log, "submit count", task_id)
    finally:
        server.stop()
        server.kill()
    assert run["context"]["trace_id"] == submit["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert run["kind"] == "SpanKind.CONSUMER"
    assert run["parent_id"] == submit["context"]["span_id"]
    assert run["attributes"] | {"task.queue": None} == {
        "task.id": task_id,
        "task.name": "count",
        "task.attempt": 1,
        "task.queue": None,
        "task.state": "succeeded",
    }


def test_a_worker_prints_the_span_of_the_task_it_ran_in_the_request_s_trace(
    tmp_path: Path, postgres_url: str, handoff: dict[str, str]
) -> None:
    env = {**OTEL_ENV, "QUART_TASKS_DATABASE": postgres_url, **handoff}
    worker = Worker(
        env, app="quart_app:create_app()", log_path=tmp_path / "worker.log", concurrency=2,
        launcher=INSTRUMENT,
    )  # fmt: skip
    web: Server | None = None
    try:
        worker.start()
        web = Server(env, log_path=tmp_path / "web.log", launcher=INSTRUMENT).start()
        task_id = traced_post(web, "count", {"n": 2, "interval": 0})
        run = wait_for_span(worker.log, "run count", task_id)
        submit = wait_for_span(web.log, "submit count", task_id)
    finally:
        if web is not None:
            web.stop()
            web.kill()
        worker.stop()
    assert run["context"]["trace_id"] == submit["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert run["parent_id"] == submit["context"]["span_id"]
