"""Reading the submission options for later and once: ``delay``, ``at``, ``Idempotency-Key``.

Each bad value is a ``400`` whose message says what to send instead.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from quart import request

from ..errors import InvalidOptions
from ..idempotency import MAX_KEY_LENGTH, check_key
from ..options import MAX_DELAY
from .errors import BadRequest
from .numbers import decimal_number

__all__ = ["KEY_HEADER", "REPLAYED_HEADER", "at_arg", "delay_arg", "idempotency_key"]

#: the request header that carries an idempotency key
KEY_HEADER = "Idempotency-Key"
#: the answer header that marks a replay: the task with that key, not a new one
REPLAYED_HEADER = "Idempotent-Replayed"
# a "+" in a query string decodes to a space: 09:00:00 01:00 is read as 09:00:00+01:00
_SPACED_OFFSET = re.compile(r"(.*\d) (\d{2}(?::?\d{2})?)")


def delay_arg(raw: str) -> float:
    value = decimal_number(raw)
    if value is None:
        raise BadRequest(f"delay must be a number of seconds, not {raw!r}")
    if not (math.isfinite(value) and 0 <= value <= MAX_DELAY):
        raise BadRequest(
            f"delay must be a number of seconds from 0 to {MAX_DELAY:.0f}, not {raw!r}"
        )
    return value


def at_arg(raw: str, name: str = "at") -> datetime:
    """A moment in a query parameter: ISO 8601 with its UTC offset (RFC 3339 allows a
    lowercase ``t`` and ``z``)."""
    text = raw.strip().upper()
    if spaced := _SPACED_OFFSET.fullmatch(text):
        text = f"{spaced[1]}+{spaced[2]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 date and time with its UTC offset, such as "
            f"2030-01-01T09:00:00Z or 2030-01-01T09:00:00%2B01:00, not {raw!r}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadRequest(
            f"{name} must carry its UTC offset (Z, or +01:00 written %2B01:00), not {raw!r}: "
            "without one it would mean another moment on every server"
        )
    return moment


def idempotency_key() -> str | None:
    """The request's idempotency key, if it sent one."""
    values = request.headers.getlist(KEY_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"the {KEY_HEADER} header is given {len(values)} times; give it once")
    try:
        return check_key(values[0])
    except InvalidOptions as exc:
        raise BadRequest(
            f"{KEY_HEADER}: {exc.message} (1 to {MAX_KEY_LENGTH} characters)"
        ) from None
