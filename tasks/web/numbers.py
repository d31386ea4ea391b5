"""Numbers read from a request (query parameters, headers): ASCII only, of bounded length.

``int()`` and ``float()`` alone take digits of any script (``٣``), and ``int()`` refuses more
than 4,300 digits with a ``ValueError`` that reads like a bug; these read only what a client
can mean, and say None for anything else, so the caller answers ``400``.
"""

from __future__ import annotations

import re

__all__ = ["decimal_number", "whole_number"]

#: longest decimal number read; anything longer is not a number a client means
MAX_LENGTH = 100
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")


def whole_number(raw: str) -> int | None:
    """``raw`` as an int if it is an optional sign and up to 30 ASCII digits, else None."""
    return int(raw) if _WHOLE.fullmatch(raw) else None


def decimal_number(raw: str) -> float | None:
    """``raw`` as a float if it is an ASCII one (``inf`` and ``nan`` included), else None."""
    if not raw.isascii() or len(raw) > MAX_LENGTH:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
