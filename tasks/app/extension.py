"""``Tasks(app)``: wires a runner and a store into a Quart app's lifecycle."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

from quart import Quart
from quart.json.provider import DefaultJSONProvider

from ..engine.distributed import check_broker
from ..engine.runner import Runner
from ..records import TaskRecord
from ..registry import Registry
from ..store import AnnouncesWork, Store, store_from_url
from ..store.locations import redact
from . import lifecycle, logs
from .json_provider import OrjsonProvider
from .metrics import TaskMetrics
from .role import Kind, Role, StartedAs
from .settings import ENV_PREFIX, Settings, read_environment

__all__ = ["Tasks"]

log = logging.getLogger("tasks")


class Tasks:
    """The tasks extension for a Quart app.

    It installs :class:`OrjsonProvider` as the app's JSON provider unless the app has its
    own. Where the tasks blueprint is mounted, a submission that the runner would refuse is
    answered with a cheap ``503`` before the app sees it (:mod:`tasks.web.admission`);
    ``submit_prefix=None`` turns that off.

    ``role`` (:class:`~tasks.app.role.Role`) says what this process does, from its settings and
    how it was started: served (the default), a worker (:meth:`run_as_worker`) or a command
    (:meth:`run_as_command`). On startup it starts the services of that role in order (see
    :mod:`tasks.app.lifecycle`): it opens the store, sizes the thread pool, starts a
    :class:`Runner` that schedules through ``app.add_background_task``, and keeps the
    delayed and periodic tasks' clocks; ``metrics`` then holds the app's
    :class:`~tasks.app.metrics.TaskMetrics` (None with ``TASKS_METRICS = false``). When shutdown
    begins it drains (new tasks get 503); after the background tasks are done it stops the
    services in reverse order, and gives the loop its default executor back.

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
        self._started_as = StartedAs.SERVER
        self._concurrency: int | None = None  # a worker's, set by run_as_worker
        self._queues: tuple[str, ...] = ()  # a worker's --queue, set by run_as_worker
        self._metrics_at: tuple[str, int] | None = None  # a worker's --metrics-host/-port
        self._runner: Runner | None = None
        self.metrics: TaskMetrics | None = None
        self._services: lifecycle.Services | None = None  # the closes of what has started
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Attach to ``app``: read its settings (``QUART_TASKS_*`` environment variables fill
        in the ``TASKS_*`` keys its configuration lacks) and start and stop with it."""
        logs.show_by_default()
        logs.name_tasks_in_logs()
        for variable in read_environment(app.config, os.environ):
            key = variable.removeprefix(ENV_PREFIX)
            log.warning("%s in the environment is unused: the app's config sets %s", variable, key)
        self._read_settings(app)  # refuse bad settings when the app is built
        app.extensions["tasks"] = self
        if type(app.json) is DefaultJSONProvider:  # an app's own provider stays
            app.json = OrjsonProvider(app)

        @app.before_serving
        async def start_tasks() -> None:
            await self.start(app)

        @app.after_serving
        async def stop_tasks() -> None:
            await self.stop()

    def run_as_worker(
        self,
        concurrency: int | None = None,
        queues: Collection[str] = (),
        *,
        metrics_at: tuple[str, int] | None = None,
    ) -> None:
        """Make this process a worker: once started, it runs the tasks the broker delivers
        (``TASKS_BROKER``), or without one those it takes from the store, ``concurrency`` at
        a time (default ``TASKS_MAX_RUNNING``), of ``queues`` (default ``TASKS_QUEUES``;
        none: every queue). With ``metrics_at`` (host, port; port 0: any free one) it keeps
        the metrics and serves ``GET /metrics`` there. Call it before the app starts;
        ``quart tasks worker`` does."""
        self._started_as, self._concurrency = StartedAs.WORKER, concurrency
        self._queues = tuple(queues)
        self._metrics_at = metrics_at
        self._decide_role()

    def run_as_command(self) -> None:
        """Make this process an in-process command (``quart tasks run``): once started, it
        runs, or hands on to the broker, only what it submits itself, and claims nothing.
        Call it before the app starts."""
        self._started_as = StartedAs.COMMAND
        self._decide_role()

    @property
    def started_runner(self) -> Runner | None:
        """The runner once the app has started (None before, and after it stops)."""
        return self._runner

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
        logs.use_format(self.settings.log_format)
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
        self._decide_role()
        return self.settings

    def _decide_role(self) -> None:
        self.role = Role.decide(
            self.settings,
            self._started_as,
            concurrency=self._concurrency,
            queues=self._queues,
            serves_metrics=self._metrics_at is not None,
        )

    async def start(self, app: Quart) -> None:
        """Start the services of this process's role, in order (:mod:`tasks.app.lifecycle`)."""
        # Read again: settings changed after the app was built (as tests do) apply too.
        settings, role = self._read_settings(app), self.role
        stack = self._services = lifecycle.Services()
        stack.callback(self._forget_services)  # the last close
        try:
            store = await lifecycle.open_store(stack, self.store_for(app))
            lifecycle.size_thread_pool(stack, role.threads)
            dispatch = lifecycle.dispatch_for(settings, role, store)
            runner = self._runner = lifecycle.runner_for(
                self.registry, store, settings, role, dispatch, spawn=app.add_background_task
            )
            if role.metrics:
                self.metrics = lifecycle.keep_metrics(stack, runner)
                if role.kind is Kind.WORKER and self._metrics_at is not None:
                    await lifecycle.serve_metrics(stack, self.metrics, *self._metrics_at)
            await lifecycle.start_runner(stack, runner)
            worker = None
            if role.takes_from_broker:
                worker = lifecycle.start_worker_loop(stack, dispatch, runner)
            if role.retention:
                lifecycle.keep_retention(stack, store, self.registry, settings)
            if role.clocks:
                alarm = lifecycle.start_clocks(stack, runner)
                # A server that runs its tasks itself, on a store that announces work, also
                # takes at once what other processes store for anyone (a producer, a commit
                # of a caller's transaction), rather than at its next upkeep round.
                announced = isinstance(store, AnnouncesWork) and role.kind is Kind.STANDALONE
                if role.follows_store or announced:
                    lifecycle.follow_store(stack, runner, alarm, settings)
            if role.serves_http:
                await lifecycle.start_http_services(stack, app)
            lifecycle.watch_shutdown(stack, app, runner, worker, self.metrics)
            if role.forwards_sigterm:
                lifecycle.forward_sigterm(stack)
        except BaseException:
            await self.stop()  # what has started, closed in reverse
            raise
        log.info(
            "tasks %s (%s): store %s, broker %s; %s, %d running at most, %d waiting at most",
            "worker ready" if role.kind is Kind.WORKER else "ready",
            role.kind,
            self._store_location(app, store),
            redact(settings.broker) if settings.broker else "none",
            role.where_tasks_run,
            role.max_running,
            settings.max_queued,
        )

    async def get(self, task_id: str) -> TaskRecord:
        """The current record of a task, from the store; :class:`~tasks.TaskNotFound` if
        there is none. Call it once the app has started (from a view, a task, or a test)."""
        return await self.runner.get(task_id)

    def _store_location(self, app: Quart, store: Store) -> str:
        if self._store is not None:
            return type(store).__name__
        return redact(self.database(app))

    async def stop(self) -> None:
        """Stop what :meth:`start` started, the last started first."""
        if self._services is not None:
            await self._services.aclose()

    @property
    def services(self) -> tuple[str, ...]:
        """The names of the services running now, in the order they started."""
        return () if self._services is None else tuple(self._services.names)

    def _forget_services(self) -> None:
        self._services = self._runner = self.metrics = None
