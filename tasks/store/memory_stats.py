"""The counts of :meth:`~tasks.store.RecordReader.stats` for
:class:`~tasks.store.MemoryStore`, made by reading each record once (see :mod:`.windows`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..records import State, TaskRecord
from .stats import Stats
from .windows import PERCENTILES, Window, micros, rank

__all__ = ["stats"]

_LIVE = frozenset({State.SCHEDULED, State.QUEUED, State.RUNNING})


def stats(records: Iterable[TaskRecord], window: Window) -> Stats:
    finished: Counter[tuple[str, str]] = Counter()
    slots: Counter[tuple[int, str]] = Counter()
    live: Counter[tuple[str, str]] = Counter()
    runs: dict[str, list[int]] = {}
    since, until = window.since, window.until
    for record in records:
        state, ended = record.state, record.finished_at
        if state in _LIVE:
            live[record.name, state.value] += 1
        elif state.terminal and ended is not None and since <= ended < until:
            finished[record.name, state.value] += 1
            slots[window.slot(micros(ended)), state.value] += 1
            if record.started_at is not None:
                run = micros(ended) - micros(record.started_at)
                runs.setdefault(record.name, []).append(run)
    percentiles = {name: _percentiles(sorted(times)) for name, times in runs.items()}
    return window.stats(
        finished=((name, state, n) for (name, state), n in finished.items()),
        runs=percentiles,
        slots=((index, state, n) for (index, state), n in slots.items()),
        live=((name, state, n) for (name, state), n in live.items()),
    )


def _percentiles(times: list[int]) -> tuple[int, int]:
    low, high = (times[rank(len(times), percent) - 1] for percent in PERCENTILES)
    return low, high
