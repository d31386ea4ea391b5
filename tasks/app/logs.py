"""Where the ``tasks`` log goes when the app has not said.

As Quart does for ``app.logger``: if nothing would show the ``tasks`` log's INFO lines (no
handler on it or its parents at that level), it gets one that writes them to stderr, so that
the startup line, failures and recoveries are seen. Logging configured by the app (or by a
test runner) is left as it is.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["show_by_default"]

log = logging.getLogger("tasks")

#: the handler added to the ``tasks`` log when nothing else would show it
default_handler = logging.StreamHandler(sys.stderr)
default_handler.setFormatter(
    logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
)


def show_by_default() -> None:
    """Give the ``tasks`` log a stderr handler at INFO, unless some handler would show it."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
        if _has_level_handler(log):
            log.setLevel(logging.NOTSET)  # configured elsewhere: that configuration decides
            return
    if not _has_level_handler(log):
        log.addHandler(default_handler)


def _has_level_handler(logger: logging.Logger) -> bool:
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False
