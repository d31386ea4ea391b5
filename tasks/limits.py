"""Limits on when a task may start, across every process that shares the store.

A task declares them (``@registry.task(concurrency=2, concurrency_key="tenant",
rate_limit="10/s")``); each start of one of its attempts is then admitted by the store
(:meth:`~tasks.store.Store.start_limited`), which writes the start only if it keeps them:

- ``concurrency``: at most that many of the task's records ``running`` at once, held by an
  owner whose lease is live (a process killed with -9 frees its places once its lease ends);
  with ``concurrency_key``, per distinct value of that argument;
- ``rate_limit``: at most ``count`` starts in any window of ``period`` seconds (a sliding
  window: no burst of twice the count around a window's edge).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .records import TaskRecord

__all__ = ["Admission", "RateLimit", "StartLimit", "TaskLimits"]

_RATE = re.compile(r"\s*(\d+)\s*/\s*(s|m|h)\s*")
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
#: a ``concurrency_key`` value longer than this, as JSON, is kept as its digest
MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` starts in any window of ``period`` seconds."""

    count: int
    period: float
    #: as declared: ``"10/s"``
    text: str

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"N/s"``, ``"N/m"`` or ``"N/h"``; a ``ValueError`` says what is wrong."""
        found = _RATE.fullmatch(text) if isinstance(text, str) else None
        if found is None or int(found[1]) < 1:
            raise ValueError(
                f'rate_limit is "N/s", "N/m" or "N/h" with N a whole number from 1, not {text!r}'
            )
        count, unit = int(found[1]), found[2]
        return cls(count, _PERIODS[unit], f"{count}/{unit}")


@dataclass(frozen=True, slots=True)
class StartLimit:
    """What the store checks before it writes one start (see the module's docstring)."""

    #: at most this many running at once in the group; None: no such limit
    concurrency: int | None = None
    #: the group within the task's name: the ``concurrency_key`` argument's value as JSON
    #: (its digest if long), ``""`` without a key
    key: str = ""
    #: at most ``rate`` starts of the task's name in any ``period`` seconds; None: no limit
    rate: int | None = None
    period: float = 1.0


@dataclass(frozen=True, slots=True)
class Admission:
    """What became of a start the store was asked to admit."""

    #: the start is written: the attempt may run
    started: bool
    #: whether the caller still holds the task (False: taken over, cancelled or ended)
    held: bool = True
    #: refused by the rate limit: seconds until a start is free; None: refused by the
    #: concurrency limit (a running task must end first), or not refused
    retry_in: float | None = None
    #: the start as written, its ``started_at`` the moment it was admitted
    record: TaskRecord | None = None


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """The limits one task declares."""

    concurrency: int | None = None
    concurrency_key: str | None = None
    rate: RateLimit | None = None

    @classmethod
    def declared(
        cls,
        name: str,
        parameters: Collection[str],
        *,
        concurrency: int | None,
        concurrency_key: str | None,
        rate_limit: str | None,
    ) -> TaskLimits | None:
        """The limits of task ``name`` (whose parameters are ``parameters``), or None if it
        declares none; a ``ValueError`` or ``TypeError`` says what is wrong with them."""
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ValueError(
                f"task {name!r}: concurrency is a whole number from 1, not {concurrency!r}"
            )
        if concurrency_key is not None:
            if concurrency is None:
                raise ValueError(
                    f"task {name!r}: concurrency_key={concurrency_key!r} needs a concurrency "
                    "(how many of each key's tasks may run at once)"
                )
            if concurrency_key not in parameters:
                known = ", ".join(parameters) or "none"
                raise TypeError(
                    f"task {name!r}: concurrency_key names a parameter; {concurrency_key!r} is "
                    f"not one (its parameters: {known})"
                )
        rate = None if rate_limit is None else RateLimit.parse(rate_limit)
        if concurrency is None and rate is None:
            return None
        return cls(concurrency, concurrency_key, rate)

    def for_start(self, kwargs: Mapping[str, Any]) -> StartLimit:
        """The limit of one start of a task called with ``kwargs`` (stored JSON form)."""
        key = ""
        if self.concurrency_key is not None:
            key = group_key(kwargs.get(self.concurrency_key))
        rate, period = (self.rate.count, self.rate.period) if self.rate else (None, 1.0)
        return StartLimit(self.concurrency, key, rate, period)

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "concurrency_key": self.concurrency_key,
            "rate_limit": self.rate.text if self.rate is not None else None,
        }


def group_key(value: Any) -> str:
    """A ``concurrency_key`` value as the store keeps it: compact JSON, or its digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_KEY_LENGTH:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text
