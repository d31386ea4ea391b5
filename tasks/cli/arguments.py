"""Task arguments on the command line: ``KEY=VALUE`` pairs, each value JSON where it parses."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["parse_arguments"]


def parse_arguments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as keyword arguments; each value is JSON where it parses, else text."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(
                f"{pair!r} is not KEY=VALUE; write each argument as n=5 or msg=hi",
                param_hint="'[KEY=VALUE]...'",
            )
        if key in kwargs:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="'[KEY=VALUE]...'")
        kwargs[key] = _json_or_text(raw)
    return kwargs


def _json_or_text(raw: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)  # NaN and Infinity are not JSON: keep them as text

    try:
        return json.loads(raw, parse_constant=refuse)
    except ValueError:
        return raw
