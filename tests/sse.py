"""A small server-sent events reader for the tests: lines in, events out."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Event:
    """One dispatched event, or a comment (``comment`` set, no data)."""

    id: str | None = None
    data: str = ""
    retry: int | None = None
    comment: str | None = None
    fields: list[str] = field(default_factory=list)

    @property
    def record(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value

    @property
    def seq(self) -> int:
        assert self.id is not None
        return int(self.id)


class Parser:
    """Feeds lines, returns the events that a blank line completes."""

    def __init__(self) -> None:
        self._current = Event()

    def feed(self, line: str) -> Event | None:
        if line == "":
            event, self._current = self._current, Event()
            return event if event.fields else None
        if line.startswith(":"):
            return Event(comment=line[1:].strip(), fields=["comment"])
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        self._current.fields.append(name)
        if name == "id":
            self._current.id = value
        elif name == "data":
            self._current.data = f"{self._current.data}\n{value}" if self._current.data else value
        elif name == "retry":
            self._current.retry = int(value)
        return None


def events(lines: Iterable[str]) -> Iterator[Event]:
    parser = Parser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


async def aevents(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    parser = Parser()
    async for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


def parse(text: str) -> list[Event]:
    return list(events(text.split("\n")))


def version(record: dict[str, Any]) -> tuple[int, int, int, int]:
    """Where a record stands in its task's life, as a key that never decreases.

    A retry goes back to ``queued`` with the attempts done so far: it ranks before the next
    attempt, after the one that failed. Progress counts within a running attempt.
    """
    state = record["state"]
    if state in TERMINAL:
        return (1, 0, 0, 0)
    if state == "running":
        progress = record["progress"]["current"] if record["progress"] else -1
        return (0, record["attempts"], 1, progress)
    return (0, record["attempts"] + 1, 0, -1)  # scheduled or queued: before the next attempt


def check_promise(found: Sequence[Event]) -> dict[str, list[dict[str, Any]]]:
    """Assert what an event stream promises; return each task's records in stream order.

    Ids increase; each task's events never go back (an earlier state, attempt or progress
    than one already sent), never repeat a record, and end with at most one terminal
    state. Which intermediate states appear is not promised: writes that a later one
    overwrote before the stream read them are skipped.
    """
    ids = [event.seq for event in found]
    assert ids == sorted(set(ids)), f"event ids out of order or repeated: {ids}"
    tasks: dict[str, list[dict[str, Any]]] = {}
    for event in found:
        tasks.setdefault(event.record["id"], []).append(event.record)
    for task_id, records in tasks.items():
        states = [record["state"] for record in records]
        keys = [version(record) for record in records]
        assert keys == sorted(keys), f"task {task_id} went back: {states} {keys}"
        assert all(a != b for a, b in itertools.pairwise(records)), f"{task_id} repeated"
        ends = [state for state in states if state in TERMINAL]
        assert ends in ([], states[-1:]), f"task {task_id}: terminal not once and last: {states}"
    return tasks
