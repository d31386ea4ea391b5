"""What the metrics cost per task, without HTTP or a store: ``python -m bench.metrics_cost``.

Feeds :class:`tasks.app.metrics.TaskMetrics` the three record writes of a task that runs once
(queued, running, succeeded), as the runner announces them, in prometheus-client's
multiprocess mode as a server uses it; a listener that does nothing is timed the same way.
The median of several rounds is printed, in microseconds per task.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from tasks.app.metrics import TaskMetrics
from tasks.records import State, TaskRecord

Listener = Callable[[TaskRecord], None]


def lifecycles(count: int) -> list[tuple[TaskRecord, TaskRecord, TaskRecord]]:
    found = []
    for _ in range(count):
        queued = TaskRecord.new("noop", {}).replace(owner="bench")
        running = queued.started()
        found.append((queued, running, running.finished(State.SUCCEEDED).replace(owner=None)))
    return found


def per_task_us(listener: Listener, count: int) -> float:
    tasks = lifecycles(count)
    started = time.thread_time()  # CPU time: the machine may be busy with other work
    for queued, running, ended in tasks:
        listener(queued)
        listener(running)
        listener(ended)
    return (time.thread_time() - started) / count * 1e6


async def measure(count: int, rounds: int) -> dict[str, float]:
    metrics = TaskMetrics(["noop"])
    assert metrics.multiprocess, "run in a fresh process: prometheus_client was imported first"

    def nothing(record: TaskRecord) -> None:
        pass

    with_metrics, without = [], []
    for _ in range(rounds):
        without.append(per_task_us(nothing, count))
        with_metrics.append(per_task_us(metrics.observe, count))
        metrics.flush()
    return {
        "metrics_us_per_task": statistics.median(with_metrics),
        "empty_listener_us_per_task": statistics.median(without),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    result = asyncio.run(measure(options.tasks, options.rounds))
    for key, value in result.items():
        print(f"{key}: {value:.2f}")


if __name__ == "__main__":
    main()
