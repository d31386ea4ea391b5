"""Searching the task list: ``GET /tasks`` (and the dashboard) by id prefix, text and time.

``q`` is text found in a task's arguments or error message (any case); ``id`` the start of
its id; ``since`` and ``until`` bound when it was created (ISO 8601 with the UTC offset).
They combine with ``state``, ``name`` and ``before``; the store does the filtering.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import BadRequest
from .later_args import at_arg

__all__ = ["MAX_TEXT", "SEARCH_ARGS", "search_filters"]

#: the query parameters of a search
SEARCH_ARGS = frozenset({"q", "id", "since", "until"})
#: characters of ``q`` at most
MAX_TEXT = 200
_ID_PREFIX = re.compile(r"[0-9a-f]{1,32}")


def search_filters(query: dict[str, str]) -> dict[str, Any]:
    """The store's ``query`` keywords of the search parameters in ``query``."""
    found: dict[str, Any] = {}
    text = query.get("q") or None
    if text is not None:
        if len(text) > MAX_TEXT:
            raise BadRequest(f"q is at most {MAX_TEXT} characters, not {len(text)}")
        found["text"] = text  # any text: one no record holds (a NUL, say) finds nothing
    prefix = (query.get("id") or "").strip().lower() or None
    if prefix is not None:
        if not _ID_PREFIX.fullmatch(prefix):
            raise BadRequest(f"id is the start of a task id: 1 to 32 hex digits, not {prefix!r}")
        found["id_prefix"] = prefix
    for name in ("since", "until"):
        if raw := query.get(name):
            found[name] = at_arg(raw, name)
    return found  # since at or after until: an empty range, so no task
