"""``Tasks(app)``: wires a runner and a store into a Quart app's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Quart
from quart.json.provider import DefaultJSONProvider

from ..admission import RefuseWhenFull
from ..engine import delays
from ..engine.distributed import broker_dispatch, broker_worker, check_broker
from ..engine.runner import Runner
from ..records import State
from ..registry import Registry
from ..store import Store, store_from_url
from . import retention, schedules, supervisor
from .json_provider import OrjsonProvider
from .metrics import TaskMetrics
from .settings import Settings

if TYPE_CHECKING:
    from ..engine.worker import BrokerWorker

__all__ = ["Tasks"]

log = logging.getLogger("tasks")


class Tasks:
    """The tasks extension for a Quart app.

    It installs :class:`OrjsonProvider` as the app's JSON provider unless the app has its
    own, and answers a ``POST <submit_prefix><task name>`` that the runner would refuse
    with a cheap ``503`` before the app sees it, if the blueprint's guard would let the
    request through (``submit_prefix=None``: it does not).

    On startup it opens the store, sizes the thread pool and starts a :class:`Runner` that
    schedules through ``app.add_background_task``, and keeps the periodic tasks' ticks;
    ``metrics`` then holds the app's :class:`~tasks.app.metrics.TaskMetrics` (None with
    ``TASKS_METRICS = false``). When shutdown begins it drains (new tasks get 503); after
    the background tasks are done it closes the runner and the store.

    With ``TASKS_BROKER`` set, the runner hands each stored task to that broker instead of
    running it, and processes made workers with :meth:`run_as_worker` (``tasks worker``)
    take the tasks from the broker and run them (due delayed tasks and periodic runs too).
    """

    def __init__(
        self,
        app: Quart | None = None,
        *,
        registry: Registry,
        store: Store | None = None,
        submit_prefix: str | None = "/tasks/",
    ):
        self.registry = registry
        self._store = store
        self.submit_prefix = submit_prefix
        self._runner: Runner | None = None
        self.metrics: TaskMetrics | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._worker: BrokerWorker | None = None
        self._concurrency: int | None = None  # set by run_as_worker
        self._scheduler: asyncio.Task[None] | None = None
        self._alarm: delays.DueAlarm | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        self._read_settings(app)  # refuse bad settings when the app is built
        app.extensions["tasks"] = self
        if type(app.json) is DefaultJSONProvider:  # an app's own provider stays
            app.json = OrjsonProvider(app)
        if self.submit_prefix is not None:
            refuse = RefuseWhenFull(
                app.asgi_app,
                lambda: self._runner,
                self.submit_prefix,
                self._count_refusal,
                settings=lambda: self.settings,
                config=app.config,
            )
            app.asgi_app = refuse  # type: ignore[method-assign]

        @app.before_serving
        async def start_tasks() -> None:
            await self.start(app)

        @app.after_serving
        async def stop_tasks() -> None:
            await self.stop()

    def run_as_worker(self, concurrency: int | None = None) -> None:
        """Make this process a worker: once started, it runs the tasks the broker delivers,
        ``concurrency`` at a time (default ``TASKS_MAX_RUNNING``). Call it before the app
        starts; ``quart tasks worker`` does. Needs ``TASKS_BROKER``."""
        if not self.settings.broker:
            raise ValueError(
                "a worker takes its tasks from a broker: set TASKS_BROKER "
                "(QUART_TASKS_BROKER) to redis://… or amqp://…"
            )
        self._concurrency = concurrency or self.settings.max_running

    @property
    def is_worker(self) -> bool:
        """Whether this process runs the tasks a broker delivers (see :meth:`run_as_worker`)."""
        return self._concurrency is not None

    def _count_refusal(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refuse(reason)

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            raise RuntimeError(
                "the tasks runner is not started: serve the app, or enter `app.test_app()`"
            )
        return self._runner

    def database(self, app: Quart) -> str:
        return self.settings.database or str(Path(app.instance_path) / "tasks.sqlite3")

    def store_for(self, app: Quart) -> Store:
        """The store this extension uses for ``app``, not yet opened."""
        if self._store is not None:
            return self._store
        return store_from_url(
            self.database(app),
            synchronous=self.settings.sqlite_synchronous,
            pool_size=self.settings.postgres_pool_size,
        )

    def _read_settings(self, app: Quart) -> Settings:
        self.settings = Settings.from_config(app.config)
        if self._store is None and self.settings.database:
            try:
                store_from_url(self.settings.database)
            except ValueError as exc:
                raise ValueError(f"TASKS_DATABASE: {exc}") from None
        if self.settings.broker:
            try:
                check_broker(self.settings.broker)
            except ValueError as exc:
                raise ValueError(f"TASKS_BROKER: {exc}") from None
        return self.settings

    async def start(self, app: Quart) -> None:
        # Read again: settings changed after the app was built (as tests do) apply too.
        settings = self._read_settings(app)
        store = self.store_for(app)
        await store.open()
        loop = asyncio.get_running_loop()
        max_running = self._concurrency or settings.max_running
        threads = settings.threads_for(max_running)
        loop.set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="tasks-worker"))
        dispatch = None
        if settings.broker:
            dispatch = broker_dispatch(
                settings.broker,
                queue=settings.broker_queue,
                store=store,
                poll_interval=settings.poll_interval,
                prefetch=max_running,
                worker=self.is_worker,
            )
        self._runner = Runner(
            self.registry,
            store,
            spawn=app.add_background_task,
            max_running=max_running,
            max_queued=settings.max_queued,
            max_scheduled=settings.max_scheduled,
            progress_interval=settings.progress_interval,
            cancel_wait=settings.cancel_wait,
            lease=settings.lease,
            poll_interval=settings.poll_interval,
            # With a broker, only workers run tasks: the web processes claim none.
            claim=settings.claim and (dispatch is None or self.is_worker),
            host_id=settings.host_id,
            dispatch=dispatch,
        )
        self.metrics = None
        if settings.metrics and not self.is_worker:
            self.metrics = TaskMetrics([definition.name for definition in self.registry])
            self._runner.subscribe(self.metrics.observe)
        await self._runner.start()
        if dispatch is not None and self.is_worker:
            self._worker = broker_worker(dispatch, self._runner.take, concurrency=max_running)
            self._worker.start()
        if settings.retention:
            every = retention.interval(settings.retention, settings.poll_interval)
            self._pruner = loop.create_task(
                retention.keep_pruning(store, self.registry, settings.retention, every)
            )
        elif self.registry.sweepers:  # no retention rounds: the sweepers run at startup only
            self._sweeper = loop.create_task(retention.sweep(self.registry, store.get))
        # A process that claims nothing (a web with a broker, TASKS_CLAIM = false) takes no
        # due task and starts no periodic run either.
        if self._runner.claims:
            self._alarm = delays.DueAlarm(self._runner)
            self._alarm.start()
        periodic = schedules.periodic(self.registry)
        if periodic and self._runner.claims:
            self._scheduler = loop.create_task(schedules.keep_schedules(self._runner, periodic))
        if not self.is_worker:
            supervisor.forward_sigterm(loop)
        self._watcher = loop.create_task(self._drain_on_shutdown(app, self._runner))
        log.info(
            "tasks %s: store %s, %s, %d running at most, %d waiting at most",
            "worker ready" if self.is_worker else "ready",
            type(store).__name__,
            _where_tasks_run(dispatch is not None, self.is_worker),
            max_running,
            settings.max_queued,
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        pruner, self._pruner = self._pruner, None
        sweeper, self._sweeper = self._sweeper, None
        scheduler, self._scheduler = self._scheduler, None
        for task in (pruner, sweeper, scheduler):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        alarm, self._alarm = self._alarm, None
        if alarm is not None:
            await alarm.stop()
        if self._watcher is not None:
            if runner is None or runner.accepting:
                self._watcher.cancel()  # stopped without a shutdown: nothing is draining
            await asyncio.gather(self._watcher, return_exceptions=True)
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()  # its last acknowledgements, while the broker is connected
        if runner is not None:
            await runner.close()
            await runner.store.close()
        if self.metrics is not None:
            self.metrics.release()  # this process holds nothing any more

    async def _drain_on_shutdown(self, app: Quart, runner: Runner) -> None:
        await app.shutdown_event.wait()  # type: ignore[attr-defined]
        if self._worker is not None:
            self._worker.stop_taking()
        await runner.drain()
        if self.metrics is not None:
            self.metrics.release(State.QUEUED)  # handed back to the store


def _where_tasks_run(broker: bool, worker: bool) -> str:
    if not broker:
        return "tasks run in this process"
    return "taking tasks from the broker" if worker else "tasks handed to the broker's workers"
