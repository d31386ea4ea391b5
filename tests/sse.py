"""A small server-sent events reader for the tests: lines in, events out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


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
