"""Per-call options of one submission: :class:`SubmitOptions`, checked once, as it is made.

Every way to submit a task takes one: ``handle.options(...)``, ``runner.submit(name, kwargs,
options)``, :class:`~tasks.client.TasksClient`, the command line's ``tasks run`` and the
query and headers of ``POST /tasks/<name>``. A bad value is refused where it is given, with
:class:`~tasks.InvalidOptions` saying what to give instead, so everything that receives one
can trust it.

Adding an option is one field here (and its line in :class:`OptionFields`, which a test
compares), its check in ``__post_init__``, its parsers (``tasks/web/api.py`` for HTTP,
``tasks/cli/commands.py`` for the command line, the query that ``tasks/client.py`` sends),
and its docs (the README and ``tasks/web/submit_operation.py`` for OpenAPI). ``connection``
is the one option only code in the same process can give: no connection crosses HTTP.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

from .errors import InvalidOptions
from .idempotency import check_key

__all__ = [
    "MAX_DELAY",
    "MAX_PRIORITY",
    "MAX_RETRIES",
    "OptionFields",
    "SubmitOptions",
    "check_priority",
    "check_queue",
]

#: the longest delay, in seconds (about 31 years)
MAX_DELAY = 1_000_000_000.0
#: the most retries one call may ask for
MAX_RETRIES = 100
#: priorities run from ``-MAX_PRIORITY`` to ``MAX_PRIORITY``
MAX_PRIORITY = 1000
#: a queue's name: it appears in URLs and command lines
_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LATEST = datetime.max.replace(tzinfo=UTC)


class OptionFields(TypedDict, total=False):
    """The fields of :class:`SubmitOptions` as keyword arguments: ``.options(timeout=30)``."""

    timeout: float | None
    retries: int | None
    delay: float | timedelta | None
    at: datetime | None
    key: str | None
    priority: int | None
    connection: object | None


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    """How to run one submitted task; a field left None keeps the task's own setting.

    ``SubmitOptions(timeout=30, retries=0)``, ``SubmitOptions(delay=3600, key="report-7")``.
    """

    #: seconds one attempt may take, above 0
    timeout: float | None = None
    #: extra attempts after a failure, 0 to 100
    retries: int | None = None
    #: run it this long from now (seconds or a ``timedelta``); not with ``at``
    delay: float | timedelta | None = None
    #: run it at this moment (an aware ``datetime``); not with ``delay``
    at: datetime | None = None
    #: an idempotency key: a repeated submission with it gets the first task back
    key: str | None = None
    #: higher runs first in its queue (-1000 to 1000); None keeps the task's own
    priority: int | None = None
    #: store the task in the transaction open on this database connection (PostgreSQL:
    #: a ``psycopg.Connection``, or a ``psycopg.AsyncConnection`` in async code), so that
    #: it exists only if that transaction commits
    connection: object | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)
        _check_retries(self.retries)
        if self.priority is not None:
            check_priority(self.priority)
        _check_later(self.delay, self.at)
        if self.key is not None:
            _check_key(self.key)

    @classmethod
    def of(
        cls, options: SubmitOptions | None = None, **fields: Unpack[OptionFields]
    ) -> SubmitOptions:
        """``options`` (or none) with ``fields`` set: what a call given both asks for."""
        base = cls() if options is None else options
        return replace(base, **fields) if fields else base

    @property
    def delay_seconds(self) -> float | None:
        """``delay`` in seconds, or None."""
        if self.delay is None:
            return None
        return self.delay.total_seconds() if isinstance(self.delay, timedelta) else self.delay

    def run_at(self, created_at: datetime) -> datetime | None:
        """When a task created at ``created_at`` is due (UTC); None without a delay or moment."""
        if self.at is not None:
            try:
                return self.at.astimezone(UTC)
            except OverflowError:  # within a day of the calendar's ends
                return _LATEST if self.at.year > 1 else created_at
        seconds = self.delay_seconds
        return None if seconds is None else created_at + timedelta(seconds=seconds)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (_is_number(timeout) and timeout > 0):
        raise InvalidOptions(f"timeout must be a number of seconds above 0, not {timeout!r}")


def check_priority(priority: int) -> int:
    """The priority, if it is one; ``InvalidOptions`` says why not."""
    whole = isinstance(priority, int) and not isinstance(priority, bool)
    if not (whole and -MAX_PRIORITY <= priority <= MAX_PRIORITY):
        raise InvalidOptions(
            f"priority must be a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY} "
            f"(higher runs first), not {priority!r}"
        )
    return priority


def check_queue(name: str) -> str:
    """The queue name, if it is one; ``ValueError`` says why not."""
    if not isinstance(name, str) or not _QUEUE.fullmatch(name):
        raise ValueError(
            f"a queue name is 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            f"letter or digit, not {name!r}"
        )
    return name


def _check_retries(retries: int | None) -> None:
    whole = isinstance(retries, int) and not isinstance(retries, bool)
    if retries is not None and not (whole and 0 <= retries <= MAX_RETRIES):
        raise InvalidOptions(
            f"retries must be a whole number from 0 to {MAX_RETRIES}, not {retries!r}"
        )


def _check_later(delay: float | timedelta | None, at: datetime | None) -> None:
    """A delay or a moment, each one that means the same on every server."""
    if delay is not None and at is not None:
        raise InvalidOptions("give a delay or a moment to run at (at), not both")
    if at is not None:
        if not isinstance(at, datetime):
            raise InvalidOptions(
                f"at must be a datetime with its UTC offset, such as "
                f"datetime(2030, 1, 1, 9, tzinfo=UTC), not {at!r}"
            )
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidOptions(
                f"at must carry its UTC offset, such as 2030-01-01T09:00:00+01:00 or ...Z, "
                f"not {at.isoformat()!r}"
            )
    if delay is None:
        return
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if not (_is_number(seconds) and math.isfinite(seconds) and 0 <= seconds <= MAX_DELAY):
        raise InvalidOptions(
            f"delay must be a number of seconds from 0 to {MAX_DELAY:.0f}, not {delay!r}"
        )


def _check_key(key: str) -> None:
    if not isinstance(key, str):
        raise InvalidOptions(f"an idempotency key is a string, such as a UUID, not {key!r}")
    check_key(key)
