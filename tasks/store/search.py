"""The filters of :meth:`~tasks.store.RecordReader.query` beyond state and name, as every store
reads them: an id prefix, a text, and a window of creation times.

- ``text`` is found, ignoring case, in a record's arguments as stored JSON (what
  :func:`tasks.codec.dumps` writes) or in its error message; ``%``, ``_`` and ``\\`` are
  plain characters. A text that holds a NUL or a lone surrogate matches nothing: stored text
  holds neither (PostgreSQL's cannot, and the codec writes neither).
- ``id_prefix`` is compared exactly, character by character.
- ``since`` and ``until`` compare with ``created_at``, whose stored form (UTC, microseconds,
  ``Z``) orders as its time does, so that the SQL stores compare text; a naive moment is
  taken as UTC.

An empty text or prefix keeps every record, as the filter's absence does.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Search", "iso", "utc"]

#: text no stored record holds: a NUL, or a lone surrogate
_NEVER_STORED = re.compile("[\x00\ud800-\udfff]")
#: printable ASCII but the space
_PRINTABLE = re.compile("[!-~]+")
#: characters that JSON may escape, or that may sit next to the white space between tokens:
#: a text without any lies within one token, as it is stored (see :attr:`Search.plain`)
_PUNCTUATION = frozenset('"\\/{}[]:,')


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be in UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """``moment`` as records store it: ``2026-12-05T14:03:07.412345Z``."""
    return utc(moment).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Search:
    """The filters of one query; None (or empty) where the query has none."""

    id_prefix: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        id_prefix: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Search:
        return cls(
            id_prefix or None,
            text or None,
            utc(since) if since is not None else None,
            utc(until) if until is not None else None,
        )

    @property
    def hopeless(self) -> bool:
        """No record can match: the text or the prefix holds what no stored text holds."""
        return any(
            value is not None and _NEVER_STORED.search(value) is not None
            for value in (self.text, self.id_prefix)
        )

    @property
    def plain(self) -> bool:
        """The text is printable ASCII without JSON's punctuation, quotes, backslashes or
        spaces: wherever a record's arguments or error message hold it, its stored JSON holds
        it too, so that the SQL stores can look for it there first, before decoding any."""
        text = self.text
        return (
            text is not None
            and _PRINTABLE.fullmatch(text) is not None
            and _PUNCTUATION.isdisjoint(text)
        )

    @property
    def prefix_end(self) -> str | None:
        """The first text after every id that starts with :attr:`id_prefix` (None: there is
        none), so that a search of ids by prefix is a range of the index of ids."""
        if self.id_prefix is None:
            return None
        last = ord(self.id_prefix[-1]) + 1
        if last > sys.maxunicode:
            return None
        if 0xD800 <= last <= 0xDFFF:  # no stored text holds a surrogate
            last = 0xE000
        return self.id_prefix[:-1] + chr(last)
