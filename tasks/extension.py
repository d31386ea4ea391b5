"""``Tasks(app)``: wires a runner and a store into a Quart app's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from quart import Quart
from quart.json.provider import DefaultJSONProvider

from . import delays, retention, schedules, supervisor
from .admission import RefuseWhenFull
from .json_provider import OrjsonProvider
from .metrics import TaskMetrics
from .records import State
from .registry import Registry
from .runner import Runner
from .settings import Settings
from .store import Store, store_from_url

__all__ = ["Tasks"]

log = logging.getLogger("tasks")


class Tasks:
    """The tasks extension for a Quart app.

    It installs :class:`OrjsonProvider` as the app's JSON provider unless the app has its
    own, and answers a ``POST <submit_prefix><task name>`` that the runner would refuse
    with a cheap ``503`` before the app sees it (``submit_prefix=None``: it does not).

    On startup it opens the store, sizes the thread pool and starts a :class:`Runner` that
    schedules through ``app.add_background_task``, and keeps the periodic tasks' ticks;
    ``metrics`` then holds the app's :class:`~tasks.metrics.TaskMetrics` (None with
    ``TASKS_METRICS = false``). When shutdown begins it drains (new tasks get 503); after
    the background tasks are done it closes the runner and the store.
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
                app.asgi_app, lambda: self._runner, self.submit_prefix, self._count_refusal
            )
            app.asgi_app = refuse  # type: ignore[method-assign]

        @app.before_serving
        async def start_tasks() -> None:
            await self.start(app)

        @app.after_serving
        async def stop_tasks() -> None:
            await self.stop()

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
        return self.settings

    async def start(self, app: Quart) -> None:
        # Read again: settings changed after the app was built (as tests do) apply too.
        settings = self._read_settings(app)
        store = self.store_for(app)
        await store.open()
        loop = asyncio.get_running_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(settings.thread_count, thread_name_prefix="tasks-worker")
        )
        self._runner = Runner(
            self.registry,
            store,
            spawn=app.add_background_task,
            max_running=settings.max_running,
            max_queued=settings.max_queued,
            max_scheduled=settings.max_scheduled,
            progress_interval=settings.progress_interval,
            cancel_wait=settings.cancel_wait,
            lease=settings.lease,
            poll_interval=settings.poll_interval,
            claim=settings.claim,
            host_id=settings.host_id,
        )
        self.metrics = None
        if settings.metrics:
            self.metrics = TaskMetrics([definition.name for definition in self.registry])
            self._runner.subscribe(self.metrics.observe)
        await self._runner.start()
        if settings.retention:
            every = retention.interval(settings.retention, settings.poll_interval)
            self._pruner = loop.create_task(
                retention.keep_pruning(store, self.registry, settings.retention, every)
            )
        if settings.claim:  # a process that claims nothing takes no due task either
            self._alarm = delays.DueAlarm(self._runner)
            self._alarm.start()
        periodic = schedules.periodic(self.registry)
        if periodic and settings.claim:  # a process that claims nothing starts no runs either
            self._scheduler = loop.create_task(schedules.keep_schedules(self._runner, periodic))
        supervisor.forward_sigterm(loop)
        self._watcher = loop.create_task(self._drain_on_shutdown(app, self._runner))
        log.info(
            "tasks ready: store %s, %d running at most, %d waiting at most",
            type(store).__name__,
            settings.max_running,
            settings.max_queued,
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        pruner, self._pruner = self._pruner, None
        scheduler, self._scheduler = self._scheduler, None
        for task in (pruner, scheduler):
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
        if runner is not None:
            await runner.close()
            await runner.store.close()
        if self.metrics is not None:
            self.metrics.release()  # this process holds nothing any more

    async def _drain_on_shutdown(self, app: Quart, runner: Runner) -> None:
        await app.shutdown_event.wait()  # type: ignore[attr-defined]
        await runner.drain()
        if self.metrics is not None:
            self.metrics.release(State.QUEUED)  # handed back to the store
