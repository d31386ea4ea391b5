"""Store and broker locations as they may be shown: in messages, logs and the startup line."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact"]


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
