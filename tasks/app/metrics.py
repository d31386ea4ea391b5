"""Prometheus metrics of the tasks, kept from the records the runner writes.

:class:`TaskMetrics` subscribes to the runner (every record write is announced) and turns the
transitions it sees into counters, gauges and histograms. With several worker processes,
prometheus-client's multiprocess mode adds up the values of all of them on every scrape (see
``metrics_files.py``); the counts of a worker that has exited stay in the totals.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..records import State, TaskRecord, utcnow
from . import metrics_files

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["TaskMetrics"]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_ENDED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
#: seconds by which the running and waiting gauges may trail the tasks, in other workers
GAUGE_DELAY = 0.25


@dataclass(frozen=True, slots=True)
class _Children:
    """One task name's labelled series, looked up once instead of at every write."""

    submitted: Counter
    retries: Counter
    finished: dict[State, Counter]
    running: Gauge
    waiting: Gauge
    duration: Histogram
    queue_wait: Histogram


class TaskMetrics:
    """The ``tasks_*`` metrics of one app; :meth:`observe` is the runner listener."""

    def __init__(self, names: list[str]) -> None:
        self.multiprocess = metrics_files.prepare()
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        # In multiprocess mode values live in the shared files, and a scrape reads those; a
        # registry of our own serves the values of this one process otherwise.
        own = None if self.multiprocess else CollectorRegistry()
        if self.multiprocess:
            _close_files_at_exit()
        self._registry: CollectorRegistry | None = own
        self.submitted = Counter(
            "tasks_submitted", "Tasks accepted and stored.", ["task"], registry=own
        )
        self.finished = Counter(
            "tasks_finished",
            "Tasks that reached a terminal state.",
            ["task", "state"],
            registry=own,
        )
        self.retries = Counter(
            "tasks_retries",
            "Failed attempts that were queued to run again.",
            ["task"],
            registry=own,
        )
        self.running = Gauge(
            "tasks_running",
            "Tasks with an attempt executing.",
            ["task"],
            registry=own,
            multiprocess_mode="livesum",
        )
        self.waiting = Gauge(
            "tasks_waiting",
            "Tasks held by a worker, waiting for a slot or for a retry.",
            ["task"],
            registry=own,
            multiprocess_mode="livesum",
        )
        self.duration = Histogram(
            "tasks_duration_seconds",
            "Run time of one attempt.",
            ["task"],
            registry=own,
            buckets=DURATION_BUCKETS,
        )
        self.queue_wait = Histogram(
            "tasks_queue_wait_seconds",
            "Time from a task's creation (a delayed task's run_at) to its first attempt.",
            ["task"],
            registry=own,
            buckets=WAIT_BUCKETS,
        )
        self.limit_wait = Histogram(
            "tasks_limit_wait_seconds",
            "Time a start waited for its task's concurrency or rate limit (0 if it did not).",
            ["task"],
            registry=own,
            buckets=WAIT_BUCKETS,
        )
        self.refused = Counter(
            "tasks_refused",
            "Submissions answered 503, by reason (queue_full, shutting_down, store_unavailable).",
            ["reason"],
            registry=own,
        )
        self._children: dict[str, _Children] = {}
        self._live: dict[str, tuple[str, State]] = {}  # tasks this process holds
        self._held: dict[tuple[str, State], int] = {}  # how many, by name and state
        self._dirty: set[str] = set()
        self._flush_due: asyncio.TimerHandle | None = None
        for name in names:
            self._for(name)  # every registered task shows, at zero, from the start

    def observe(self, record: TaskRecord) -> None:
        """Account for one record write (a runner listener: it must be cheap)."""
        held = self._live.get(record.id)
        state = record.state
        if held is not None and held[1] is state:
            return  # a progress write
        name = record.name
        series = self._for(name)
        previous = None if held is None else held[1]
        if previous is not None:
            self._held[name, previous] -= 1
        if previous is State.RUNNING and record.started_at is not None:
            end = record.finished_at or utcnow()
            series.duration.observe((end - record.started_at).total_seconds())
        if state is State.QUEUED or state is State.SCHEDULED:
            if previous is None and record.attempts == 0:
                series.submitted.inc()
            elif previous is State.RUNNING:
                series.retries.inc()
        elif state is State.RUNNING and record.attempts == 1 and record.started_at is not None:
            # a delayed task waits in the queue from its run_at on, not from its creation
            ready = max(record.created_at, record.run_at or record.created_at)
            series.queue_wait.observe(max(0.0, (record.started_at - ready).total_seconds()))
        if state.terminal:
            series.finished[state].inc()
            self._live.pop(record.id, None)
        elif record.owner is None:  # stored for whichever worker claims it
            self._live.pop(record.id, None)
        else:
            self._live[record.id] = (name, state)
            self._held[name, state] = self._held.get((name, state), 0) + 1
        self._gauges_changed(name)

    def limited(self, name: str, seconds: float) -> None:
        """Account for one start a limit admitted after ``seconds`` of waiting."""
        self.limit_wait.labels(name).observe(seconds)  # only the limited tasks have one

    def refuse(self, reason: str) -> None:
        self.refused.labels(reason).inc()

    def release(self, state: State | None = None) -> None:
        """Stop counting the tasks this process holds (in ``state``, or all): they were
        handed back to the store at a shutdown."""
        for task_id, (name, held) in list(self._live.items()):
            if state is None or held is state:
                self._held[name, held] -= 1
                self._dirty.add(name)
                del self._live[task_id]
        self.flush()

    def flush(self) -> None:
        """Write the gauges that changed since the last flush."""
        self._flush_due = None
        dirty, self._dirty = self._dirty, set()
        for name in dirty:
            series = self._for(name)
            series.running.set(self._held.get((name, State.RUNNING), 0))
            series.waiting.set(self._held.get((name, State.QUEUED), 0))

    def _gauges_changed(self, name: str) -> None:
        # Gauges are written a moment later, once for all the changes in between: a task
        # moves through three states, and each write to the shared files costs microseconds.
        self._dirty.add(name)
        if self._flush_due is None:
            loop = asyncio.get_running_loop()
            self._flush_due = loop.call_later(GAUGE_DELAY, self.flush)

    def serve(self, host: str, port: int) -> tuple[Callable[[], None], int]:
        """Serve ``GET /metrics`` on ``host``:``port`` (0: any free port) from a thread of
        its own, as a worker without HTTP does; returns its stop and the port."""
        from prometheus_client import CollectorRegistry, start_http_server

        collector = self._registry
        if collector is None:
            from prometheus_client.multiprocess import MultiProcessCollector

            collector = CollectorRegistry()
            MultiProcessCollector(collector, os.environ[metrics_files.ENV])  # type: ignore[no-untyped-call]
        server, _ = start_http_server(port, host, registry=collector)

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return stop, int(server.server_port)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format, for the whole server."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self._registry is not None:
            return generate_latest(self._registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        folder = os.environ[metrics_files.ENV]
        metrics_files.forget_dead_processes(folder)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def _for(self, name: str) -> _Children:
        series = self._children.get(name)
        if series is None:
            series = self._children[name] = _Children(
                submitted=self.submitted.labels(name),
                retries=self.retries.labels(name),
                finished={state: self.finished.labels(name, state.value) for state in _ENDED},
                running=self.running.labels(name),
                waiting=self.waiting.labels(name),
                duration=self.duration.labels(name),
                queue_wait=self.queue_wait.labels(name),
            )
        return series


@functools.cache
def _close_files_at_exit() -> None:
    """The shared files stay open while the process lives; close them as it ends."""
    from prometheus_client import values

    atexit.register(values.ValueClass.close_all_files)
