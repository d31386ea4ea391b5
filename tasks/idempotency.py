"""Idempotency keys: a submission repeated with the same key gets the first task back.

A key names one submission. The store keeps at most one record per key (whatever the task:
keys are not scoped by task name), so concurrent submissions with one key, through any
number of processes, start exactly one task. A later submission with that key and the same
task name and arguments is a replay: it gets the first task's record (the API answers
``200`` with ``Idempotent-Replayed: true``). The same key with another task name or other
arguments is :class:`~tasks.errors.IdempotencyConflict` (``409``). Options (timeout,
retries, delay) are not compared: a replay changes nothing. A key lives as long as its
record; once retention deletes the record, the key may be used again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import IdempotencyConflict, InvalidOptions
from .records import TaskRecord

__all__ = ["MAX_KEY_LENGTH", "Submitted", "check_key", "replay"]

#: the longest key, in characters
MAX_KEY_LENGTH = 255
#: printable ASCII, no space at either end (HTTP strips those from header values)
_KEY = re.compile(r"[!-~](?:[ -~]*[!-~])?")


@dataclass(frozen=True, slots=True)
class Submitted:
    """The outcome of a submission: the task's record, and whether it was a replay."""

    record: TaskRecord
    #: True when a task with the submission's idempotency key existed: ``record`` is that one
    replayed: bool = False


def check_key(key: str) -> str:
    """The key, if it is one; ``InvalidOptions`` says why not."""
    if not key:
        raise InvalidOptions("an idempotency key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidOptions(
            f"an idempotency key is at most {MAX_KEY_LENGTH} characters, not {len(key)}"
        )
    if not _KEY.fullmatch(key):
        raise InvalidOptions(
            "an idempotency key is printable ASCII (letters, digits, punctuation, inner "
            "spaces), such as a UUID"
        )
    return key


def replay(name: str, arguments: dict[str, Any], existing: TaskRecord) -> Submitted:
    """The replay of ``existing``, the task that holds the key; a conflict if it differs."""
    key = existing.idempotency_key
    if existing.name != name:
        raise IdempotencyConflict(
            f"the idempotency key {key!r} was used for a {existing.name!r} task "
            f"({existing.id}), not {name!r}; use a new key for a new submission"
        )
    if existing.kwargs != arguments:
        raise IdempotencyConflict(
            f"the idempotency key {key!r} was used for task {existing.id} with other "
            "arguments; use a new key for a new submission"
        )
    return Submitted(existing, replayed=True)
