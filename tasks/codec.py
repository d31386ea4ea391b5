"""JSON as the stores keep it and the API reads it: one encoding, read back as written.

Every store and every request body goes through these functions, so that whatever is
accepted can be read back:

- orjson does the work. Integers past 64 bits, which orjson refuses to write and reads as
  floats, go through the standard library instead and keep every digit.
- Text is valid Unicode. JSON's ``\\ud800`` escape can spell a lone surrogate, which UTF-8
  cannot hold: :func:`problem` finds one in a submission so that it is refused; in what a
  task produces (a result, an error, a progress message) :func:`dumps` writes U+FFFD in its
  place; and :func:`loads_stored` does the same for rows written before such text was
  refused.
- Numbers are finite: :func:`loads` refuses ``NaN`` and ``Infinity``, and :func:`problem`
  finds ``1e999``, which reads as infinity.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

__all__ = ["clean", "dumps", "loads", "loads_stored", "problem"]

#: a run of digits that may be an integer orjson cannot read exactly (2**64 has 20 digits)
_LONG_DIGITS = re.compile(r"[0-9]{19}")
#: leads the text :func:`dumps` writes with the standard library, so that :func:`loads_stored`
#: knows to read it the same way without searching it (JSON allows leading white space)
_STANDARD = " "
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def dumps(value: Any) -> str:
    """JSON text of ``value``; lone surrogates become U+FFFD, non-finite numbers ``null``."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a lone surrogate, an integer past 64 bits, a key that is not text
        cleaned = clean(value)
        text = json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return _STANDARD + text


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text`` exactly: long integers stay integers, escapes of lone
    surrogates stay in the text, ``1e999`` reads as infinity (see :func:`problem` for both).
    ``ValueError`` says what is wrong, also for a number too long or nesting too deep."""
    return _loads(text)[0]


def loads_stored(text: str) -> Any:
    """The value of JSON text that :func:`dumps` wrote (or an earlier version did), with any
    lone surrogate replaced by U+FFFD. Long integers stay exact."""
    if not text.startswith(_STANDARD):
        try:
            return orjson.loads(text)  # orjson reads no lone surrogate
        except orjson.JSONDecodeError:
            pass  # an earlier version's escape of a lone surrogate, or a broken row
    value, exact = _loads(text, search=False)
    return value if exact else clean(value)


def _loads(text: str | bytes, *, search: bool = True) -> tuple[Any, bool]:
    """The value, and whether orjson read it (then it holds no lone surrogate)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if search and _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text), True
        except orjson.JSONDecodeError:
            pass  # read by the standard parser below, which also says why it is invalid
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_integer)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    return value, False


def problem(value: Any, where: str = "") -> str | None:
    """Why ``value`` cannot be stored as it is, naming where in it; None if it can."""
    if isinstance(value, str):
        if (found := _SURROGATE.search(value)) is not None:
            return (
                f"{where or 'the text'} holds a lone surrogate (U+{ord(found.group()):04X}), "
                "which is not valid Unicode; send valid UTF-8 text"
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            return f"{where or 'the number'} is {value}, which JSON cannot hold"
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if (found_problem := problem(key, f"{inner!r} (its name)")) is not None:
                return found_problem
            if (found_problem := problem(item, repr(inner))) is not None:
                return found_problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found_problem := problem(item, f"{where or 'the list'}[{index}]")) is not None:
                return found_problem
    return None


def clean(value: Any) -> Any:
    """``value`` with each lone surrogate replaced by U+FFFD and non-finite numbers by None."""
    if isinstance(value, str):
        return _SURROGATE.sub(_REPLACEMENT, value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # past Python's limit on digits
        raise ValueError(f"it holds a number too long to read ({len(text)} digits)") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")
