"""Putting a runner's parts together: each part gets the parts below it, nothing else."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from ..records import TaskRecord
from ..registry import Served
from ..store import Store
from .attempt import Attempts
from .cancellation import Cancellation
from .dispatch import Dispatch, InProcess
from .intake import Intake
from .pauses import Pauses
from .progress import ProgressWriter
from .recovery import Upkeep
from .room import Room
from .slots import Slots, Spawn
from .store_health import StoreHealth
from .workflow import Waits
from .writer import RecordWriter

__all__ = ["Limits", "Parts", "RunnerHooks", "assemble"]


class RunnerHooks(Protocol):
    """What the parts call back on the runner that owns them."""

    def enqueue(self, task: TaskRecord | str) -> None: ...

    def wait(self, task_id: str, *, poll_interval: float = ...) -> Awaitable[TaskRecord]: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers a runner's parts work with (see :class:`~tasks.engine.runner.Runner`)."""

    max_running: int
    max_queued: int
    progress_interval: float
    cancel_wait: float
    lease: float
    poll_interval: float
    claims: bool
    claims_ahead: bool
    prefetch: int = 0

    def __post_init__(self) -> None:
        if self.max_queued < 0:
            raise ValueError(f"max_queued must be 0 or more, not {self.max_queued}")
        if not 0 < self.poll_interval < self.lease:
            raise ValueError(
                f"poll_interval ({self.poll_interval}) must be above 0 and below the lease"
            )


@dataclass(frozen=True, slots=True)
class Parts:
    """A runner's parts, from the bottom up."""

    health: StoreHealth
    writer: RecordWriter
    progress: ProgressWriter
    slots: Slots
    cancellation: Cancellation
    dispatch: Dispatch
    intake: Intake
    room: Room
    upkeep: Upkeep
    pauses: Pauses


def assemble(
    runner: RunnerHooks,
    registry: Served,
    store: Store,
    *,
    owner: str,
    limits: Limits,
    spawn: Spawn | None,
    dispatch: Dispatch | None,
) -> Parts:
    """The parts of ``runner``, wired; ``dispatch`` None: this process's own slots."""
    health = StoreHealth()
    writer = RecordWriter(store, owner, limits.lease, health)
    progress = ProgressWriter(writer.write, limits.progress_interval)
    pauses = Pauses(store, registry)
    attempts = Attempts(
        registry,
        store,
        writer,
        owner=owner,
        report=progress.report,
        forget=progress.forget,
        waits=Waits(store, writer),
        paused=pauses,
    )
    slots = Slots(attempts.execute, spawn=spawn, max_running=limits.max_running)
    attempts.parking = slots
    attempts.admitted = slots.held_back
    cancellation = Cancellation(
        store,
        slots,
        writer,
        wait_for=lambda task_id, every: runner.wait(task_id, poll_interval=every),
        cancel_wait=limits.cancel_wait,
        poll_interval=limits.poll_interval,
    )
    dispatch = dispatch or InProcess(runner.enqueue)
    intake = Intake(writer, dispatch, health)
    room = Room(slots, intake, dispatch, max_queued=limits.max_queued)
    upkeep = Upkeep(
        store,
        registry,
        writer,
        slots,
        cancellation,
        poll_interval=limits.poll_interval,
        claims=limits.claims,
        claim_limit=partial(
            room.claim_limit,
            ahead=limits.claims_ahead,
            max_running=limits.max_running,
            prefetch=limits.prefetch,
        ),
        claim_batch=max(1, (limits.max_running + limits.prefetch) // 2),
        health=health,
        in_flight=lambda: intake.in_flight() | writer.unsettled,
        pauses=pauses,
    )
    pauses.on_change = upkeep.wake
    return Parts(
        health, writer, progress, slots, cancellation, dispatch, intake, room, upkeep, pauses
    )
