"""Part 13: what tracing costs per task, off and on, on SQLite, no HTTP.

The same no-op coroutine tasks, all submitted at once through a :class:`tasks.Runner` on a
fresh SQLite file, run to their end three ways: with ``opentelemetry-api`` and no tracer
provider (tracing off: what every app without an SDK runs), and with the SDK's provider
whose batch processor hands the spans to an exporter that drops them (tracing on: the
spans are made, timed and queued, the cost of the export itself left out), once with every
span sampled and once with none (``ALWAYS_OFF``: the spans are not recorded). The provider is
given to this part only, for the time of its rows.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler

from tasks import Registry, Runner, SQLiteStore, State, tracing

from .loops import run_on
from .settings import Settings

registry = Registry()


@registry.task(name="noop")
async def _noop() -> None:
    return None


class _Dropped(SpanExporter):
    """Takes every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@contextmanager
def _provider(sampler: Sampler | None) -> Iterator[None]:
    """Tracing on with ``sampler`` for the time of the block (None: off)."""
    if sampler is None:
        yield
        return
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(_Dropped()))
    original = trace.get_tracer_provider
    trace.get_tracer_provider = lambda: provider  # type: ignore[assignment]
    tracing.refresh()
    try:
        yield
    finally:
        trace.get_tracer_provider = original  # type: ignore[assignment]
        tracing.refresh()
        provider.shutdown()


async def _run(runner: Runner, count: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    records = await asyncio.gather(*(runner.submit("noop") for _ in range(count)))
    await runner.join()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    ended = await asyncio.gather(*(runner.get(record.id) for record in records))
    assert {record.state for record in ended} == {State.SUCCEEDED}, "a task did not succeed"
    return elapsed, used


async def measure(path: Path, count: int, sampler: Sampler | None) -> dict[str, float]:
    store = SQLiteStore(path)
    await store.open()
    runner = Runner(registry, store, max_queued=count)
    await runner.start()
    try:
        with _provider(sampler):
            await _run(runner, min(count, 50))  # warm-up: first-use costs
            wall, cpu = await _run(runner, count)
    finally:
        await runner.close()
        await store.close()
    return {"tasks_per_s": count / wall, "cpu_us_per_task": cpu / count * 1e6}


MODES: dict[str, Sampler | None] = {"off": None, "on, not sampled": ALWAYS_OFF, "on": ALWAYS_ON}


def off_check_ns() -> float:
    """Nanoseconds of the check a submission and an attempt each make when tracing is
    off (no provider): all that tracing costs them then."""
    calls = 200_000
    started = time.perf_counter()
    for _ in range(calls):
        tracing.start_producer("noop")
    return (time.perf_counter() - started) / calls * 1e9


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    loop = settings.worker_classes[-1]
    check = off_check_ns()
    print(f"  tracing off: {check:.0f} ns per check (one per submission, one per attempt)")
    count = max(100, settings.engine_tasks // 5)
    rows = []
    for mode, sampler in MODES.items():
        rounds = []
        for number in range(settings.engine_repeats):
            path = workdir / f"tracing-{number}.sqlite3"
            path.unlink(missing_ok=True)
            rounds.append(run_on(loop, measure(path, count, sampler)))
        rows.append(
            {
                "tracing": mode,
                "tasks": count,
                **{
                    key: statistics.median(r[key] for r in rounds)
                    for key in ("tasks_per_s", "cpu_us_per_task")
                },
            }
        )
    for row in rows:
        row["cpu_us_over_off"] = row["cpu_us_per_task"] - rows[0]["cpu_us_per_task"]
        row["share_of_off"] = row["tasks_per_s"] / rows[0]["tasks_per_s"]
        print(
            f"  {loop:8} tracing {row['tracing']:16} {row['tasks_per_s']:8.0f} tasks/s "
            f"{row['cpu_us_per_task']:7.0f} us CPU/task (+{row['cpu_us_over_off']:.0f} us)",
            flush=True,
        )
    return {"loop": loop, "rows": rows, "off_check_ns": check}
