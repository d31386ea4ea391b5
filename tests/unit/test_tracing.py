"""Tracing with OpenTelemetry: nothing without a tracer provider; with one, a producer span
per submission and a consumer span ``run <name>`` per attempt in the submission's trace,
steps inside it, failures marked, and a ``traceparent`` header honoured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tasks import MemoryStore, Registry, Runner, SQLiteStore, State, current_task, tracing
from tasks.testing import running
from tests.harness import WAIT, RunnerFactory, app_with_registry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A tracer provider for this test only, its spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    tracing.refresh()
    yield exporter
    monkeypatch.undo()
    tracing.refresh()
    provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_without_a_provider_nothing_is_traced(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task
    async def ping() -> str:
        return "pong"

    assert tracing.start_producer("ping") is None
    runner = await make_runner()
    record = await runner.submit("ping")
    assert record.trace is None
    assert (await runner.wait(record.id, poll_interval=WAIT)).result == "pong"


async def test_a_submission_and_its_attempt_share_a_trace(
    registry: Registry, make_runner: RunnerFactory, spans: InMemorySpanExporter
) -> None:
    async def charge(order: int) -> int:
        return order * 100

    @registry.task(queue="billing")
    async def bill(order: int) -> int:
        return await current_task().step("charge", charge, order)

    runner = await make_runner()
    record = await runner.submit("bill", {"order": 3})
    assert record.trace is not None
    assert record.trace["traceparent"].startswith("00-")
    assert (await runner.wait(record.id, poll_interval=WAIT)).result == 300
    (submit,) = named(spans, "submit bill")
    (run,) = named(spans, "run bill")
    (step,) = named(spans, "step charge")
    assert submit.kind is SpanKind.PRODUCER
    assert run.kind is SpanKind.CONSUMER
    assert dict(submit.attributes or {}) == {
        "task.name": "bill",
        "task.id": record.id,
        "task.queue": "billing",
    }
    assert dict(run.attributes or {}) == {
        "task.id": record.id,
        "task.name": "bill",
        "task.attempt": 1,
        "task.queue": "billing",
        "task.state": "succeeded",
    }
    assert submit.context is not None
    assert run.context is not None
    assert step.context is not None
    assert run.context.trace_id == submit.context.trace_id == step.context.trace_id
    assert run.parent is not None
    assert run.parent.span_id == submit.context.span_id
    assert step.parent is not None
    assert step.parent.span_id == run.context.span_id
    assert run.status.status_code is StatusCode.UNSET


async def test_a_failed_attempt_marks_its_span_and_each_retry_has_its_own(
    registry: Registry, make_runner: RunnerFactory, spans: InMemorySpanExporter
) -> None:
    @registry.task(retries=1, backoff=0.01)
    def declined() -> None:  # a thread task: its span is current in the thread too
        trace.get_current_span().set_attribute("card", "declined")
        raise ValueError("card declined")

    runner = await make_runner()
    record = await runner.submit("declined")
    assert (await runner.wait(record.id, poll_interval=WAIT)).state is State.FAILED
    runs = sorted(named(spans, "run declined"), key=lambda span: span.start_time or 0)
    assert [(span.attributes or {})["task.attempt"] for span in runs] == [1, 2]
    assert [(span.attributes or {})["task.state"] for span in runs] == ["queued", "failed"]
    for span in runs:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: card declined"
        assert [event.name for event in span.events] == ["exception"]
        assert (span.attributes or {})["card"] == "declined"


async def test_a_traceparent_header_puts_the_task_in_that_trace(
    registry: Registry, spans: InMemorySpanExporter
) -> None:
    @registry.task
    async def count(n: int) -> int:
        return n

    async with running(app_with_registry(registry)) as harness:
        response = await harness.client.post(
            "/tasks/count", json={"n": 2}, headers={"traceparent": TRACEPARENT}
        )
        assert response.status_code == 202
        task_id = (await response.get_json())["id"]
        await harness.wait_for(task_id)
        plain = await harness.client.post("/tasks/count", json={"n": 3})  # a trace of its own
        await harness.wait_for((await plain.get_json())["id"])
    runs = {(span.attributes or {})["task.id"]: span for span in named(spans, "run count")}
    traced = runs.pop(task_id)
    assert traced.context is not None
    assert f"{traced.context.trace_id:032x}" == TRACE_ID
    (other,) = runs.values()
    assert other.context is not None
    assert f"{other.context.trace_id:032x}" != TRACE_ID


async def test_a_task_run_by_another_process_continues_the_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    registry = Registry()

    @registry.task
    async def ping() -> str:
        return "pong"

    path = tmp_path / "tasks.sqlite3"
    web = Runner(registry, SQLiteStore(path), claim=False, poll_interval=0.05)
    worker = Runner(registry, SQLiteStore(path), poll_interval=0.05)
    for runner in (web, worker):
        await runner.store.open()
        await runner.start()
    try:
        record = await web.submit("ping", enqueue=False)  # stored for whichever claims it
        async with asyncio.timeout(WAIT):
            done = await worker.wait(record.id, poll_interval=0.05)
    finally:
        for runner in (web, worker):
            await runner.close()
            await runner.store.close()
    assert done.owner == worker.owner
    (submit,) = named(spans, "submit ping")
    (run,) = named(spans, "run ping")
    assert submit.context is not None
    assert run.context is not None
    assert run.parent is not None
    assert run.context.trace_id == submit.context.trace_id
    assert run.parent.span_id == submit.context.span_id


async def test_memory_store_records_keep_their_trace(spans: InMemorySpanExporter) -> None:
    registry = Registry()

    @registry.task
    async def ping() -> None: ...

    store = MemoryStore()
    runner = Runner(registry, store, claim=False)
    await runner.start()
    try:
        record = await runner.submit("ping", enqueue=False)
    finally:
        await runner.close()
    stored = await store.get(record.id)
    assert stored is not None
    assert stored.trace == record.trace
    assert stored.to_dict()["trace"] == record.trace
