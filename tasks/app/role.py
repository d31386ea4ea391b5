"""What a process does, decided once from its settings and the way it was started.

=============  =================================  ==========================================
kind           started as                         does
=============  =================================  ==========================================
standalone     a server, no ``TASKS_BROKER``      serves HTTP and runs its tasks itself
web            a server, with ``TASKS_BROKER``    serves HTTP, hands each task on to a broker
               or ``TASKS_RUN_TASKS = false``     or leaves it in the store for the workers
worker         ``tasks worker``                   runs the tasks it takes (from the broker, or
                                                  without one from the store), serves no HTTP
command        an in-process ``tasks`` command    runs (or hands on) only what it submits
=============  =================================  ==========================================

Every other part asks the :class:`Role` rather than reading settings of its own: whether
to claim (and how much at once), whether to hold what it submits, and which services to
start (metrics, the delay alarm and periodic clock, retention, the event feed, SIGTERM
forwarding).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from .settings import Settings

__all__ = ["Kind", "Role", "StartedAs"]


class StartedAs(StrEnum):
    """How the process was started."""

    #: served (Hypercorn, ``app.run``, ``app.test_app()``): the default
    SERVER = "server"
    #: ``tasks worker`` (:meth:`tasks.Tasks.run_as_worker`)
    WORKER = "worker"
    #: an in-process ``tasks`` command (:meth:`tasks.Tasks.run_as_command`)
    COMMAND = "command"


class Kind(StrEnum):
    """The four kinds of process (see the module's table)."""

    #: serves HTTP and runs its tasks itself
    STANDALONE = "standalone"
    #: serves HTTP and hands each task on to the workers (through a broker, or the store)
    WEB = "web"
    #: runs the tasks it takes (from a broker, or from the store), serves no HTTP
    WORKER = "worker"
    #: runs, or hands on, only what it submits; serves no HTTP and claims nothing
    COMMAND = "command"


@dataclass(frozen=True)
class Role:
    """What one process does; :meth:`decide` builds it."""

    kind: Kind
    #: hands tasks to a broker, or takes them from one (``TASKS_BROKER``)
    broker: bool
    #: tasks run here at once (``TASKS_MAX_RUNNING``, or a worker's ``--concurrency``)
    max_running: int
    #: threads of the loop's default executor (``TASKS_THREADS``, else ``max_running + 4``)
    threads: int
    #: claims live tasks nobody holds (``TASKS_CLAIM``)
    claims: bool
    #: a claiming round may take up to twice ``max_running`` (within the queue's room);
    #: False: only what its free slots can start now, leaving the rest to other workers
    claims_ahead: bool
    #: tasks a worker claims beyond its free slots, to start as soon as one frees (a worker
    #: that takes its tasks from the store: one claiming round per batch, not per task)
    prefetch: int
    #: holds (and runs) what it submits; False: stores it held by nobody and hands it on
    holds: bool
    #: takes the tasks a broker delivers (the worker loop)
    takes_from_broker: bool
    #: takes its tasks from the store as soon as it changes (a worker without a broker)
    follows_store: bool
    #: keeps the app's :class:`~tasks.metrics.TaskMetrics` (``TASKS_METRICS``)
    metrics: bool
    #: takes delayed tasks when due (the delay alarm) and starts periodic runs (the clock)
    clocks: bool
    #: prunes finished records (``TASKS_RETENTION``) and runs the registry's sweepers
    retention: bool
    #: serves the blueprint's HTTP services (the event feed)
    serves_http: bool
    #: passes a SIGTERM on to a multi-process server's parent (:mod:`tasks.supervisor`)
    forwards_sigterm: bool
    #: the task queues it runs (``TASKS_QUEUES``, or a worker's ``--queue``); None: every one
    queues: frozenset[str] | None

    @classmethod
    def decide(
        cls,
        settings: Settings,
        started_as: StartedAs = StartedAs.SERVER,
        *,
        concurrency: int | None = None,
        queues: Collection[str] = (),
        serves_metrics: bool = False,
    ) -> Role:
        """The role of a process with ``settings``, started as ``started_as``; a worker runs
        ``concurrency`` tasks at once (default ``TASKS_MAX_RUNNING``), of ``queues``
        (default ``TASKS_QUEUES``; none: every queue), and keeps metrics if it
        ``serves_metrics`` (``--metrics-port``)."""
        broker = bool(settings.broker)
        kind = _kind(started_as, hands_on=broker or not settings.run_tasks)
        max_running = concurrency or settings.max_running
        claims = settings.claim and kind in (Kind.STANDALONE, Kind.WORKER)
        serves_http = kind in (Kind.STANDALONE, Kind.WEB)
        return cls(
            kind=kind,
            broker=broker,
            max_running=max_running,
            threads=settings.threads_for(max_running),
            claims=claims,
            # Workers share a broker's (or a store's) work: each takes only what it can start.
            claims_ahead=claims and kind is Kind.STANDALONE,
            # What a web process submits goes to the workers; with a broker, so does what
            # any other process submits.
            holds=not broker and kind is not Kind.WEB,
            takes_from_broker=kind is Kind.WORKER and broker,
            follows_store=claims and kind is Kind.WORKER and not broker,
            prefetch=max_running if claims and kind is Kind.WORKER and not broker else 0,
            metrics=settings.metrics and (kind is not Kind.WORKER or serves_metrics),
            clocks=claims,
            retention=True,  # every process prunes: deleting what another deleted is a no-op
            serves_http=serves_http,
            forwards_sigterm=serves_http,
            queues=frozenset(queues or settings.queues) or None,
        )

    @property
    def where_tasks_run(self) -> str:
        """Where this process's tasks run, for its startup log line."""
        if self.takes_from_broker:
            return "taking tasks from the broker"
        if self.follows_store:
            return "taking tasks from the store"
        if self.holds:
            return "tasks run in this process"
        if self.broker:
            return "tasks handed to the broker's workers"
        return "tasks stored for the workers (TASKS_RUN_TASKS is false)"


def _kind(started_as: StartedAs, *, hands_on: bool) -> Kind:
    if started_as is StartedAs.WORKER:
        return Kind.WORKER
    if started_as is StartedAs.COMMAND:
        return Kind.COMMAND
    return Kind.WEB if hands_on else Kind.STANDALONE
