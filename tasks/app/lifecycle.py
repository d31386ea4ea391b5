"""The services of a :class:`~tasks.Tasks` extension, each started with its close on a stack.

:meth:`Tasks.start <tasks.Tasks.start>` calls these in order; each one starts a service and
pushes its close onto an :class:`~contextlib.AsyncExitStack`, so that stopping (or a start
that fails halfway) closes exactly what has started, the last one first::

    store → thread pool → runner (with its dispatch) and metrics → worker loop → retention
    → delay alarm → periodic clock → store follower → the blueprint's HTTP services (the
    event feed) → the shutdown watch → SIGTERM forwarding

The :class:`~tasks.role.Role` says which of them a process runs. Each start and close is
logged at DEBUG (``started …``, ``stopping …``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from quart import Quart

from ..engine import delays
from ..engine.dispatch import Dispatch, ForWorkers
from ..engine.distributed import broker_dispatch, broker_worker
from ..engine.follow import StoreFollower
from ..engine.runner import Runner, Spawn
from ..records import State
from ..registry import Registry
from ..store import AnnouncesWork, ChangeNotifier, Store
from . import retention, schedules, supervisor
from .metrics import TaskMetrics
from .role import Role
from .settings import Settings

if TYPE_CHECKING:
    from ..engine.worker import BrokerWorker

__all__ = ["HttpService", "Services", "add_http_service"]

log = logging.getLogger("tasks")

#: A service the blueprint runs with the extension, in processes that serve HTTP: called
#: with the app once the extension's own services run, exited before they stop.
HttpService = Callable[[Quart], AbstractAsyncContextManager[object]]
#: ``app.extensions`` key of the app's HTTP services, in the order they were added
HTTP_SERVICES = "tasks.http_services"
_UNKNOWN = object()


def add_http_service(app: Quart, name: str, service: HttpService) -> None:
    """Run ``service`` with the tasks extension of ``app`` (once), whether ``Tasks(app)``
    comes before this call or after."""
    services: dict[str, HttpService] = app.extensions.setdefault(HTTP_SERVICES, {})
    services.setdefault(name, service)


class Services(AsyncExitStack):
    """The closes of the services started so far, and their names (``names``)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def started(self, name: str, close: Callable[[], Awaitable[object]]) -> None:
        """Record that the service ``name`` has started, and push its ``close``."""
        log.debug("started %s", name)
        self.names.append(name)

        async def stop() -> None:
            log.debug("stopping %s", name)
            self.names.remove(name)
            await close()

        self.push_async_callback(stop)


async def open_store(stack: Services, store: Store) -> Store:
    await store.open()
    stack.started("store", store.close)
    return store


def size_thread_pool(stack: Services, threads: int) -> None:
    """Make the loop's default executor ``threads`` wide; the host's own comes back at stop."""
    loop = asyncio.get_running_loop()
    # No loop has a public getter for its default executor. asyncio's keeps it in an
    # attribute (None until first used); uvloop's is out of reach (_UNKNOWN).
    previous = getattr(loop, "_default_executor", _UNKNOWN)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="tasks-worker")
    loop.set_default_executor(pool)

    async def restore() -> None:
        if previous is _UNKNOWN:
            loop.set_default_executor(ThreadPoolExecutor())  # as the loop makes on first use
        elif getattr(loop, "_default_executor", None) is pool:
            setattr(loop, "_default_executor", previous)  # noqa: B010
        pool.shutdown(wait=False)  # a thread still busy with a task finishes it

    stack.started("thread pool", restore)


#: most seconds between two looks at a store that does not announce its changes, for a
#: worker that takes its tasks from it
STORE_POLL = 0.25


def dispatch_for(settings: Settings, role: Role, store: Store) -> Dispatch | None:
    """The broker dispatch of a process with ``TASKS_BROKER``; for a web process without
    one, the store (the workers take from it); None: this process's own slots."""
    if not settings.broker:
        return None if role.holds else ForWorkers(store, poll_interval=settings.poll_interval)
    return broker_dispatch(
        settings.broker,
        queue=settings.broker_queue,
        store=store,
        poll_interval=settings.poll_interval,
        prefetch=role.max_running,
        worker=role.takes_from_broker,  # the broker must know before it connects
    )


def runner_for(
    registry: Registry,
    store: Store,
    settings: Settings,
    role: Role,
    dispatch: Dispatch | None,
    *,
    spawn: Spawn,
) -> Runner:
    """The runner of this process's role; it starts and closes ``dispatch`` with itself."""
    return Runner(
        registry,
        store,
        spawn=spawn,
        max_running=role.max_running,
        max_queued=settings.max_queued,
        max_scheduled=settings.max_scheduled,
        progress_interval=settings.progress_interval,
        cancel_wait=settings.cancel_wait,
        lease=settings.lease,
        poll_interval=settings.poll_interval,
        claim=role.claims,
        host_id=settings.host_id,
        dispatch=dispatch,
        holds=role.holds,
        claims_ahead=role.claims_ahead,
        prefetch=role.prefetch,
        queues=role.queues,
    )


async def serve_metrics(stack: Services, metrics: TaskMetrics, host: str, port: int) -> None:
    """Serve a worker's ``GET /metrics`` on ``host``:``port`` until it stops."""
    try:
        stop, port = await asyncio.to_thread(metrics.serve, host, port)
    except OSError as exc:
        raise OSError(f"--metrics-port: cannot listen on {host}:{port}: {exc}") from exc
    stack.started("metrics server", partial(asyncio.to_thread, stop))
    log.info("metrics at http://%s:%d/metrics", host if ":" not in host else f"[{host}]", port)


def keep_metrics(stack: Services, runner: Runner) -> TaskMetrics:
    """Count the runner's writes from its start (its startup claims too) until it stops."""
    metrics = TaskMetrics([definition.name for definition in runner.registry])
    runner.subscribe(metrics.observe)
    runner.on_limit_wait(metrics.limited)

    async def release() -> None:
        metrics.release()  # this process holds nothing any more

    stack.started("metrics", release)
    return metrics


async def start_runner(stack: Services, runner: Runner) -> None:
    await runner.start()
    stack.started("runner", runner.close)


def start_worker_loop(stack: Services, dispatch: Dispatch | None, runner: Runner) -> BrokerWorker:
    """Take the tasks the broker delivers, and run them with ``runner``."""
    from ..engine.broker import BrokerDispatch  # only with a broker: it imports taskiq

    if not isinstance(dispatch, BrokerDispatch):
        raise ValueError("a worker takes its tasks from a broker: set TASKS_BROKER")
    # Twice the slots in flight: the next tasks are claimed in the store while others run,
    # as a worker without a broker claims one window ahead of its slots.
    worker = broker_worker(dispatch, runner.take, concurrency=2 * runner.max_running)
    worker.start()
    # Its last acknowledgements go out before the runner closes the broker's connection.
    stack.started("worker loop", worker.close)
    return worker


def keep_retention(stack: Services, store: Store, registry: Registry, settings: Settings) -> None:
    """Prune finished records every so often; with no retention, run the sweepers once."""
    if settings.retention:
        every = retention.interval(settings.retention, settings.poll_interval)
        pruning = retention.keep_pruning(store, registry, settings.retention, every)
        _in_background(stack, "retention", pruning)
    elif registry.sweepers:
        _in_background(stack, "sweepers", retention.sweep(registry, store.get))


def start_clocks(stack: Services, runner: Runner) -> delays.DueAlarm:
    """Take delayed tasks when due, and start the runs of periodic tasks."""
    alarm = delays.DueAlarm(runner)
    alarm.start()
    stack.started("delay alarm", alarm.stop)
    periodic = schedules.periodic(runner.registry)
    if periodic:
        _in_background(stack, "periodic clock", schedules.keep_schedules(runner, periodic))
    return alarm


def follow_store(
    stack: Services, runner: Runner, alarm: delays.DueAlarm, settings: Settings
) -> None:
    """Take tasks from the store as soon as it changes (a worker without a broker)."""
    # A store that announces nothing wakes nobody: look at it often.
    announced = isinstance(runner.records, AnnouncesWork | ChangeNotifier)
    follower = StoreFollower(
        runner,
        runner.records,
        alarm,
        poll=settings.poll_interval if announced else min(settings.poll_interval, STORE_POLL),
        names=frozenset(definition.name for definition in runner.registry),
    )
    follower.start()
    stack.started("store follower", follower.stop)


async def start_http_services(stack: Services, app: Quart) -> None:
    services: dict[str, HttpService] = app.extensions.get(HTTP_SERVICES, {})
    for name, service in services.items():
        await stack.enter_async_context(service(app))
        stack.started(name, _nothing)  # logs its stop just before its exit runs


def watch_shutdown(
    stack: Services,
    app: Quart,
    runner: Runner,
    worker: BrokerWorker | None,
    metrics: TaskMetrics | None,
) -> None:
    """Stop taking tasks and drain the runner as soon as shutdown begins."""
    watcher = asyncio.get_running_loop().create_task(
        _drain_on_shutdown(app, runner, worker, metrics)
    )

    async def stop_watching() -> None:
        if runner.accepting:
            watcher.cancel()  # stopped without a shutdown: nothing is draining
        await asyncio.gather(watcher, return_exceptions=True)

    stack.started("shutdown watch", stop_watching)


def forward_sigterm(stack: Services) -> None:
    """In a multi-process server's worker process, make SIGTERM a graceful shutdown."""
    if supervisor.forward_sigterm(asyncio.get_running_loop()):
        # Its handler stays until the loop closes: a worker process whose app has stopped
        # must still ignore the SIGTERMs its parent sends while the server ends.
        stack.started("SIGTERM forwarding", _nothing)


async def _drain_on_shutdown(
    app: Quart, runner: Runner, worker: BrokerWorker | None, metrics: TaskMetrics | None
) -> None:
    await app.shutdown_event.wait()  # type: ignore[attr-defined]
    if worker is not None:
        worker.stop_taking()
    await runner.drain()
    if metrics is not None:
        metrics.release(State.QUEUED)  # handed back to the store


def _in_background(stack: Services, name: str, work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.started(name, cancel)


async def _nothing() -> None:
    pass
