"""Whether the store answers: what health reports, and when the runner must reconcile.

Any part of the runner that meets :class:`~tasks.errors.StoreUnavailable` reports it here;
the upkeep round reports each lease renewal that lands. Between the two the store is
failing, and ``GET /healthz`` says so. After a failure, a write whose outcome was lost
(committed, but its answer never came) may have left this runner holding a task it does not
know of: the first renewal that lands afterwards asks for a reconciliation
(see :meth:`~tasks.engine.recovery.Upkeep.reconcile`).
"""

from __future__ import annotations

import logging
import time

__all__ = ["StoreHealth"]

log = logging.getLogger("tasks")


class StoreHealth:
    """The store's state as this runner last met it."""

    def __init__(self) -> None:
        #: why the store failed, while it fails; None while it answers
        self.error: str | None = None
        #: when (``time.monotonic()``) the current failure began
        self.since: float | None = None
        self._unsettled = False

    @property
    def failing(self) -> bool:
        return self.error is not None

    def failed(self, exc: Exception) -> None:
        """Report a store error; the first of an outage is logged."""
        if self.error is None:
            self.since = time.monotonic()
            log.error("the task store is failing: %s", exc)
        self.error = str(exc)
        self._unsettled = True

    def answered(self) -> bool:
        """Report a write that landed; True once after a failure: reconcile now."""
        if self.error is not None and self.since is not None:
            log.warning("the task store answers again after %.1f s", time.monotonic() - self.since)
        self.error = self.since = None
        unsettled, self._unsettled = self._unsettled, False
        return unsettled

    def to_dict(self) -> dict[str, object]:
        """For health: ``ok``, or ``failing`` with the error and for how long."""
        if self.error is None or self.since is None:
            return {"status": "ok"}
        return {
            "status": "failing",
            "error": self.error,
            "failing_for": round(time.monotonic() - self.since, 1),
        }
