"""Fields of a record's stored JSON, read in SQL without ever failing on a damaged row.

``data`` is text: casting it to JSON fails for a row that is not JSON (see
``record_json.py``), which would make a whole statement fail. ``quart_tasks_field`` (see
``schema.py``) gives NULL instead; ``quart_tasks_micros`` turns a stored time into
microseconds, NULL if it is not a time. Stored times are compared in code point order
(``COLLATE "C"``), in which they order as their times do, whatever the database's collation.
"""

from __future__ import annotations

__all__ = ["FINISHED", "FINISHED_AT", "LIVE", "field", "micros"]

#: the states a task ends in, as the partial index of finish times spells them
FINISHED = "('succeeded', 'failed', 'cancelled')"
#: the states of a task that has not ended
LIVE = "('scheduled', 'queued', 'running')"


def field(path: str) -> str:
    """The value at ``path`` (``finished_at``, ``error,message``) of the row's JSON, as
    text (an object or array as its JSON); NULL if there is none, or if the row's ``data``
    is not JSON."""
    return f"quart_tasks_field(data, '{{{path}}}')"


def micros(moment: str) -> str:
    """The stored time ``moment`` (an SQL expression) in microseconds since the epoch."""
    return f"quart_tasks_micros({moment})"


#: the finish time, spelt as the index of finish times holds it (schema version 7)
FINISHED_AT = f'{field("finished_at")} COLLATE "C"'
