"""Reading ``--in`` (a duration such as 30s, 5m, 1h30m) and ``--at`` (an ISO 8601 moment)."""

from __future__ import annotations

import re
from datetime import datetime

import click

__all__ = ["duration_option", "moment_option", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``5m``, ``1h30m``, ``2d`` or a bare number of seconds."""
    cleaned = text.strip().lower()
    try:
        seconds = float(cleaned)
    except ValueError:
        pass
    else:
        if seconds >= 0:
            return seconds
        raise ValueError(f"{text!r} is negative; the delay is how long to wait, from now")
    parts = _PART.findall(cleaned)
    if not parts or "".join(number + unit for number, unit in parts) != cleaned:
        raise ValueError(
            f"{text!r} is not a duration; write seconds (90), or numbers with units s, m, h, "
            "d, such as 30s, 5m, 1h30m"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """The click callback of ``--in``: seconds as a float."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def moment_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """The click callback of ``--at``: an aware datetime."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date and time, such as 2030-01-01T09:00:00+01:00",
            ctx,
            param,
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise click.BadParameter(
            f"{value!r} has no UTC offset; add one (Z, +01:00) so that it means one moment",
            ctx,
            param,
        )
    return moment
