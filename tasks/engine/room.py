"""Room for more work: how many tasks wait, how many more may, and why one is refused."""

from __future__ import annotations

from ..errors import QueueFull, ShuttingDown, Unavailable
from .dispatch import Dispatch
from .intake import Intake
from .slots import Slots

__all__ = ["Room"]


class Room:
    """The waiting queue of one runner, bounded by ``max_queued``.

    Waiting are the tasks held here that are not running (queued, held back by a limit, due
    for a retry, or being stored) and, with a broker, the tasks the broker's workers have not
    taken yet.
    """

    def __init__(
        self, slots: Slots, intake: Intake, dispatch: Dispatch, *, max_queued: int
    ) -> None:
        self._slots = slots
        self._intake = intake
        self._dispatch = dispatch
        self.max_queued = max_queued

    @property
    def waiting(self) -> int:
        return self._slots.retrying + self._queued

    @property
    def capacity(self) -> int:
        """How many more tasks the waiting queue can take."""
        return max(0, self.max_queued - self._queued)

    @property
    def _queued(self) -> int:
        slots = self._slots
        return slots.queued + slots.limited + self._intake.reserved + self._dispatch.backlog

    def refusal(self) -> Unavailable | None:
        """Why a task submitted now would be refused (shutting down, queue full), or None."""
        if not self._slots.accepting:
            return ShuttingDown("the server is shutting down and takes no new tasks; retry shortly")
        if self.capacity == 0:
            return QueueFull(
                f"{_tasks(self.max_queued)} already waiting; retry later or raise TASKS_MAX_QUEUED"
            )
        return None

    def claim_limit(self, *, ahead: bool, max_running: int, prefetch: int = 0) -> int:
        """How many tasks one claiming round may take.

        At most twice what the runner can run at once, so that several processes starting
        together share the backlog instead of one taking all of it; without ``ahead`` (a
        worker sharing the work with others), only what its free slots can start now, and
        ``prefetch`` more to start as soon as a slot frees. Tasks a limit holds back take no
        slot, so a worker goes on claiming others (another tenant's) while they wait, until
        ``max_queued`` of them wait here.
        """
        if ahead:
            return min(self.capacity, 2 * max_running)
        if self._slots.limited >= max(self.max_queued, max_running):
            return 0
        return max(0, max_running + prefetch - self._slots.active - self._slots.queued)


def _tasks(count: int) -> str:
    return "1 task is" if count == 1 else f"{count} tasks are"
