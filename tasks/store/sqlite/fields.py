"""Fields of a record's stored JSON, read in SQL without ever failing on a damaged row.

``json_extract`` raises on text that is not JSON, which would make a whole statement fail
for one damaged row (see ``record_json.py``); :func:`field` gives NULL for such a row. Both
functions are deterministic, so that an index can hold the expression: a query that
spells it exactly as the index does (as :func:`field` does) can use that index.
"""

from __future__ import annotations

__all__ = ["FINISHED", "LIVE", "field", "micros"]

#: the states a task ends in, as the partial index of finish times spells them
FINISHED = "('succeeded', 'failed', 'cancelled')"
#: the states of a task that has not ended
LIVE = "('scheduled', 'queued', 'running')"


def field(path: str) -> str:
    """The value at ``path`` (``finished_at``, ``error.message``) of the row's JSON; NULL
    if there is none, or if the row's ``data`` is not JSON."""
    return f"CASE WHEN json_valid(data) THEN json_extract(data, '$.{path}') END"


def micros(moment: str) -> str:
    """The stored time ``moment`` (an SQL expression: ``2026-12-05T14:03:07.412345Z``) in
    whole microseconds since the epoch; NULL if it is not a time.

    The seconds come from its first 19 characters (and its zone, which ``strftime`` checks
    with them), the microseconds from its six digits: ``julianday`` and ``strftime`` keep
    milliseconds only, and round them.
    """
    return (
        f"CASE WHEN {moment} GLOB '????-??-??T??:??:??.[0-9][0-9][0-9][0-9][0-9][0-9]*' THEN "
        f"CAST(strftime('%s', substr({moment}, 1, 19) || substr({moment}, 27)) AS INTEGER) "
        f"* 1000000 + CAST(substr({moment}, 21, 6) AS INTEGER) END"
    )
