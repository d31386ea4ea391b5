"""The answer of ``GET /stats``, for the OpenAPI description (see :mod:`.stats`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .schemas import _Shape

__all__ = ["STATS_MODELS"]


class FinishedCounts(_Shape):
    """Tasks that ended in the window, by state."""

    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cancelled: int = Field(ge=0)


class LiveCounts(_Shape):
    """Tasks live now, by state."""

    scheduled: int = Field(ge=0)
    queued: int = Field(ge=0)
    running: int = Field(ge=0)


class Durations(_Shape):
    """Run time of the last attempt of the tasks that ended in the window and had started."""

    p50: float | None = Field(description="the median, in seconds; null if none started")
    p95: float | None = Field(description="the 95th percentile, in seconds")


class TaskStats(_Shape):
    """One task name."""

    name: str
    finished: FinishedCounts
    live: LiveCounts
    duration: Durations


class ThroughputPoint(_Shape):
    """The tasks that ended in one bucket of the window."""

    start: str = Field(description="when the bucket begins (UTC, ISO 8601)")
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cancelled: int = Field(ge=0)


class Stats(_Shape):
    """What the tasks did in the last ``window`` seconds, counted by the store."""

    window: int = Field(description="seconds")
    since: str = Field(description="the window's start (UTC, ISO 8601)")
    until: str = Field(description="the window's end: now (UTC, ISO 8601)")
    bucket: float = Field(description="seconds per point of throughput")
    states: dict[str, int] = Field(
        description="every state: live tasks now, and those that ended in the window"
    )
    tasks: list[TaskStats] = Field(description="every registered task name, and any other seen")
    throughput: list[ThroughputPoint] = Field(description="every bucket, oldest first")


STATS_MODELS: tuple[type[BaseModel], ...] = (Stats,)
