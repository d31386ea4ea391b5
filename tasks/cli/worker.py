"""``tasks worker``: run the tasks that the web processes hand on.

The process starts the app's lifecycle without serving HTTP: its runner takes tasks from
the broker (``TASKS_BROKER``), or without one from the store as soon as it changes
(PostgreSQL's ``LISTEN``/``NOTIFY``; SQLite, on one machine, is looked at every 0.25 s), and
claims those nobody holds, until SIGTERM or Ctrl-C, which drain it as they drain the
server: it takes no more tasks, hands the unstarted ones back to the store, and gives the
running ones the shutdown window (``BACKGROUND_TASK_SHUTDOWN_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import click
from quart import Quart

from ..options import check_queue
from .commands import tasks_cli
from .execution import _extension, _find_app
from .local import uses_memory_store

__all__ = ["worker_command"]

log = logging.getLogger("tasks")


@tasks_cli.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    metavar="N",
    help="Tasks this worker runs at once [default: TASKS_MAX_RUNNING].",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Run only the tasks of this queue; repeat for several [default: TASKS_QUEUES, "
    "else every queue].",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65_535),
    metavar="PORT",
    help="Keep this worker's metrics and serve them at http://HOST:PORT/metrics (0: any free "
    "port, logged).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="The address --metrics-port listens on (0.0.0.0: every interface).",
)
def worker_command(
    concurrency: int | None,
    queues: tuple[str, ...],
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the tasks that web processes hand on: taken from the broker (TASKS_BROKER) or,
    without one, from the store.

    Start as many workers as you like, on any machine that reaches the store
    (TASKS_DATABASE, PostgreSQL across machines) and the broker, if any. Set
    TASKS_RUN_TASKS=false on the web processes for the workers to run every task. Each
    worker runs up to N tasks at once and shows as their owner; with --queue, only the
    tasks of those queues. With --metrics-port it serves the same metrics as a server's
    /metrics, counting the tasks it runs. SIGTERM or Ctrl-C drains it like the server.
    """
    app = _find_app(required=True)
    assert app is not None
    tasks = _extension(app)
    if uses_memory_store(app, tasks):
        raise click.UsageError(
            "TASKS_DATABASE is ':memory:': a worker must share the store of the web "
            "processes; use PostgreSQL (or a SQLite file on this machine)"
        )
    for name in queues:
        try:
            check_queue(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--queue") from None
    unknown = sorted(set(queues) - tasks.registry.queues)
    if unknown:
        known = ", ".join(sorted(tasks.registry.queues))
        raise click.BadParameter(
            f"no task of this app waits in queue {unknown[0]!r} (its queues: {known})",
            param_hint="--queue",
        )
    metrics_at = None
    if metrics_port is not None:
        if not tasks.settings.metrics:
            raise click.BadParameter(
                "TASKS_METRICS is false: this app keeps no metrics", param_hint="--metrics-port"
            )
        metrics_at = (metrics_host, metrics_port)
    tasks.run_as_worker(concurrency, queues, metrics_at=metrics_at)
    _show_log()
    try:
        asyncio.run(_work(app))
    except KeyboardInterrupt:  # a signal before the handlers were installed
        click.get_current_context().exit(130)


async def _work(app: Quart) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            log.info("%s: already stopping", signum.name)
            return
        log.info("%s: the worker stops taking tasks and drains", signum.name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with app.app_context():
            try:
                await app.startup()
            except Exception as exc:
                raise click.ClickException(
                    f"the app could not start: {type(exc).__name__}: {exc}; check "
                    "TASKS_DATABASE, TASKS_BROKER and the other TASKS_* settings"
                ) from exc
            try:
                await stop.wait()
            finally:
                await app.shutdown()
        log.info("worker stopped")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)


def _show_log() -> None:
    """A worker's log is its output: show the tasks log on stderr if the app did not."""
    logger = logging.getLogger("tasks")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    )
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
