"""The systems the peers part compares: how to start each, and how to read it.

Each system is a web server whose ``POST /tasks/noop`` enqueues a no-op task with result
tracking on, and the processes that run the tasks. Flask + RQ, Flask + Celery and
Quart + taskiq keep their queues and results in Redis, each on a database of its own,
flushed (that database only) before every start; ours keeps them in a SQLite file, a new one
per start, or in a new PostgreSQL database per start (in the web process; handed to two
``tasks worker`` processes through the store alone; or through a Redis stream). Quart +
PgQueuer and Quart + DBOS keep theirs in PostgreSQL, on the same server as ours, each in a
new database per start too, dropped afterwards: PgQueuer's tables made by ``pgq install``
before its worker starts, DBOS's by its worker's launch. Every component runs in a process
group of its own, so that its CPU time, that of its reaped children included, can be read
from ``/proc``; the PostgreSQL and Redis servers' CPU time is read too (see
:func:`servers_cpu_used`).

A task counts as finished when its system has recorded its result: RQ's ``rq:results:<id>``
key, Celery's ``celery-task-meta-<id>``, taskiq's ``<id>``, our record in a terminal state,
PgQueuer's ``pgqueuer_log`` row in a terminal status, DBOS's ``workflow_status`` row in
status ``SUCCESS``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import http.client
import itertools
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from . import servers
from .pace import RAISED_QUEUE, finished
from .stores import _postgres_server, _store_location

#: The Redis server the peers use (a database number is added per system)
REDIS_URL = (os.environ.get("TASKS_BENCH_REDIS_URL") or "redis://127.0.0.1:6379").rstrip("/")
WARM_UP = 16  # tasks run through a system after it starts, before it is measured
READY_TIMEOUT = 60.0
TASKIQ_RESULT_KEY = "?" * 32  # taskiq's task ids are uuid4().hex
#: The systems on PostgreSQL, by kind: how many tasks they have finished, and how many they
#: still hold to run, each counted in their own tables
POSTGRES_COUNTS = {
    "ours": (
        "SELECT count(*) FROM quart_tasks WHERE state IN ('succeeded', 'failed', 'cancelled')",
        "SELECT count(*) FROM quart_tasks WHERE state IN ('queued', 'running')",
    ),
    # A job leaves the queue table once it ends (a failed one stays there, held) and its end
    # is logged; pgqueuer_log keeps every row (its statistics table only sums them up).
    "pgqueuer": (
        "SELECT count(*) FROM pgqueuer_log"
        " WHERE status IN ('successful', 'exception', 'canceled', 'deleted', 'failed')",
        "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked')",
    ),
    "dbos": (
        "SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS'",
        "SELECT count(*) FROM dbos.workflow_status"
        " WHERE status IN ('ENQUEUED', 'PENDING', 'DELAYED')",
    ),
}

_starts = itertools.count(1)


@dataclass(frozen=True)
class System:
    key: str
    label: str
    kind: str  # rq, celery, taskiq, pgqueuer, dbos or ours
    workers: int = 1  # RQ: worker processes; ours: Hypercorn's --workers
    db: int | None = None  # its Redis database
    store: str = "sqlite"  # ours: sqlite or postgres (PgQueuer and DBOS: always postgres)
    #: ours: where the web hands its tasks ("": runs them itself; "store": to ``tasks
    #: worker`` processes through the store; "redis": through a Redis stream)
    handoff: str = ""
    task_workers: int = 0  # ours: ``tasks worker`` processes

    @property
    def redis_url(self) -> str:
        return f"{REDIS_URL}/{self.db}"

    @property
    def processes(self) -> str:
        """What runs, as started here: each package with its own defaults."""
        web = "gunicorn, 1 sync worker"
        if self.kind == "rq":
            return f"{web}; {self.workers} x `rq worker` (rq.Worker: forks a work horse per job)"
        if self.kind == "celery":
            return f"{web}; `celery worker` (prefork pool, one child process per CPU)"
        if self.kind == "taskiq":
            return "Hypercorn (uvloop), 1 process; `taskiq worker` (2 worker processes)"
        if self.kind == "pgqueuer":
            return (
                "Hypercorn (uvloop), 1 process, asyncpg pool; `pgq run` (1 process, "
                "batches of 10, LISTEN/NOTIFY); PostgreSQL"
            )
        if self.kind == "dbos":
            return (
                "Hypercorn (uvloop), 1 process, DBOSClient; 1 DBOS worker process "
                "(DBOS.launch(), the queue polled every 1 s); PostgreSQL"
            )
        processes = f"{self.workers} worker processes" if self.workers else "1 process"
        store = "PostgreSQL" if self.store == "postgres" else "SQLite"
        if self.handoff == "store":
            return (
                f"Hypercorn (uvloop), 1 process, TASKS_RUN_TASKS=false; {self.task_workers} x "
                f"`quart tasks worker` taking from the store; {store} store"
            )
        if self.handoff == "redis":
            return (
                f"Hypercorn (uvloop), 1 process; {self.task_workers} x `quart tasks worker` "
                f"on a Redis stream broker; {store} store"
            )
        return f"Hypercorn (uvloop), {processes}: runs its tasks itself; {store} store"


SYSTEMS = (
    System("rq-1", "Flask + RQ, 1 worker", "rq", workers=1, db=11),
    System("rq-2", "Flask + RQ, 2 workers", "rq", workers=2, db=11),
    System("celery", "Flask + Celery", "celery", db=12),
    System("taskiq", "Quart + taskiq", "taskiq", db=13),
    System("pgqueuer", "Quart + PgQueuer", "pgqueuer", store="postgres"),
    System("dbos", "Quart + DBOS Transact", "dbos", store="postgres"),
    System("ours-1", "quart-tasks, 1 process", "ours", workers=0),
    System("ours-2", "quart-tasks, Hypercorn -w 2", "ours", workers=2),
    System("ours-pg", "quart-tasks, PostgreSQL, 1 process", "ours", workers=0, store="postgres"),
    System(
        "ours-pg-workers",
        "quart-tasks, web + 2 workers, PostgreSQL (no broker)",
        "ours",
        workers=0,
        store="postgres",
        handoff="store",
        task_workers=2,
    ),
    System(
        "ours-pg-redis",
        "quart-tasks, web + 2 workers, Redis broker, PostgreSQL",
        "ours",
        workers=0,
        db=14,
        store="postgres",
        handoff="redis",
        task_workers=2,
    ),
)
#: ``TASKS_BENCH_PEERS``: a comma-separated subset of the keys above to measure (default: see
#: :func:`chosen`)
CHOSEN = tuple(
    key.strip() for key in (os.environ.get("TASKS_BENCH_PEERS") or "").split(",") if key.strip()
)


#: measured only when named in ``TASKS_BENCH_PEERS``: RQ forks a process per job, and is slow
ONLY_WHEN_NAMED = frozenset({"rq-1", "rq-2"})


def chosen() -> tuple[System, ...]:
    """The systems to measure: those named in ``TASKS_BENCH_PEERS``, else every one but
    :data:`ONLY_WHEN_NAMED`."""
    if not CHOSEN:
        return tuple(system for system in SYSTEMS if system.key not in ONLY_WHEN_NAMED)
    unknown = sorted(set(CHOSEN) - {system.key for system in SYSTEMS})
    if unknown:
        known = ", ".join(system.key for system in SYSTEMS)
        raise SystemExit(f"TASKS_BENCH_PEERS: unknown system {unknown[0]!r}; known: {known}")
    return tuple(system for system in SYSTEMS if system.key in CHOSEN)


def redis_problem() -> str | None:
    """Why the peers cannot run (no Redis answers), or None."""
    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except (RedisError, OSError) as exc:
        return f"no Redis server answers at {REDIS_URL} (set TASKS_BENCH_REDIS_URL): {exc}"
    return None


def redis_version() -> str:
    return str(Redis.from_url(REDIS_URL).info("server")["redis_version"])


def redis_cpu_seconds() -> float:
    """Redis' CPU time so far: the whole server, every client's work."""
    info = Redis.from_url(REDIS_URL).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


#: The CPU used so far by the shared servers: Redis' seconds, and PostgreSQL's
ServersCpu = tuple[float, float]


def postgres_cpu_seconds() -> float:
    """The PostgreSQL server's CPU time so far: every ``postgres`` process on this machine,
    with the children they reaped (a backend that has exited counts in its postmaster's)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            # utime, stime, and cutime, cstime: those of reaped children
            ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def servers_cpu() -> ServersCpu:
    """The CPU used so far by the shared servers the systems use: Redis and PostgreSQL."""
    return redis_cpu_seconds(), postgres_cpu_seconds()


def servers_cpu_used(before: ServersCpu, after: ServersCpu) -> dict[str, float]:
    """CPU seconds the servers used between two :func:`servers_cpu` readings (a backend
    that exited but is not reaped yet is missing from the second: never below zero)."""
    return {
        "redis": after[0] - before[0],
        "postgres": max(0.0, after[1] - before[1]),
    }


def flush(system: System) -> None:
    """Empty the system's own Redis database (FLUSHDB: never any other database)."""
    if system.db is not None:
        Redis.from_url(system.redis_url).flushdb()


class Running:
    """A started system: its web server, its workers, and what it has finished."""

    def __init__(
        self,
        system: System,
        web: servers.Server,
        workers: list[servers.Background],
        database: Path | str | None,
    ) -> None:
        self.system = system
        self.web = web
        self.workers = workers
        self.database = database
        self.redis = Redis.from_url(system.redis_url) if system.db is not None else None
        self._counting: Any = None  # a psycopg connection, once counting has begun

    @property
    def url(self) -> str:
        return self.web.url + "/tasks/noop"

    def finished(self) -> int:
        """Tasks whose result the system has recorded."""
        if isinstance(self.database, str):
            return self._count(POSTGRES_COUNTS[self.system.kind][0])
        if self.database is not None:
            return finished(self.database)
        pattern = {"rq": "rq:results:*", "celery": "celery-task-meta-*"}.get(
            self.system.kind, TASKIQ_RESULT_KEY
        )
        assert self.redis is not None
        return sum(1 for _ in self.redis.scan_iter(match=pattern, count=10_000))

    def waiting(self) -> int:
        """Tasks accepted and not yet run to their end, as the system's queue tells it."""
        if isinstance(self.database, str):
            return self._count(POSTGRES_COUNTS[self.system.kind][1])
        if self.database is not None:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30) as db:
                query = "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
                return int(db.execute(query).fetchone()[0])
        assert self.redis is not None
        if self.system.kind == "rq":
            return int(self.redis.llen("rq:queue:default"))
        if self.system.kind == "celery":
            return int(self.redis.llen("celery")) + int(self.redis.hlen("unacked"))
        groups = self.redis.xinfo_groups("taskiq")
        return sum(int(group["pending"]) + int(group.get("lag") or 0) for group in groups)

    def _count(self, query: str) -> int:
        """A count over the system's PostgreSQL database, on one connection kept for the
        whole measure (a connection per count would load the server being measured)."""
        import psycopg

        assert isinstance(self.database, str)
        if self._counting is None:
            self._counting = psycopg.connect(self.database, connect_timeout=10, autocommit=True)
        row = self._counting.execute(query).fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        if self._counting is not None:
            self._counting.close()

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time so far of the web server, and of the workers (reaped children included)."""
        web = self.web.cpu_seconds(reaped=True)
        return web, sum(worker.cpu_seconds() for worker in self.workers)

    def check_alive(self) -> None:
        assert self.web.process is not None
        if self.web.process.poll() is not None:
            raise RuntimeError(f"{self.web.spec.label} exited; see {self.web.log_path}")
        for worker in self.workers:
            worker.check_alive()


#: seconds a start waits for another run on this machine to let go of a Redis database
DATABASE_WAIT = 300.0


@contextmanager
def _redis_database_held(system: System) -> Iterator[None]:
    """Hold the system's Redis database number on this machine while it runs: two runs at
    once (the benchmark and the tests, or two test runs) would flush and count each other's
    keys. An exclusive ``flock`` on a file named after the number, released on exit."""
    if system.db is None:
        yield
        return
    path = Path(tempfile.gettempdir()) / f"quart-tracked-tasks-redis-{system.db}.lock"
    with path.open("a") as lock:
        deadline = time.monotonic() + DATABASE_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"Redis database {system.db} is held by another run") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def started(system: System, workdir: Path, logs: Path, name: str) -> Iterator[Running]:
    """Start ``system`` afresh, wait until its workers run tasks, and stop it on exit."""
    with ExitStack() as stack:
        stack.enter_context(_redis_database_held(system))
        flush(system)
        env = {"BENCH_REDIS_URL": system.redis_url}
        database: Path | str | None = None
        if system.store == "postgres":  # a new database, dropped on exit (after the processes)
            server, unavailable = _postgres_server()
            if server is None:
                raise SystemExit(f"{system.label}: {unavailable}")
            database = stack.enter_context(_store_location("postgres", workdir, server))
            env = (
                _ours_env(system, database, name)
                if system.kind == "ours"
                else {"BENCH_POSTGRES_URL": database}
            )
            if system.kind == "pgqueuer":
                _pgq_install(database, logs / f"{name}-install.log")
        elif system.kind == "ours":
            database = workdir / f"{name}-{next(_starts)}.sqlite3"
        workers = []
        for number, command in enumerate(_worker_commands(system), 1):
            worker = servers.Background(command, logs / f"{name}-worker{number}.log", env)
            stack.callback(worker.kill)
            workers.append(worker.start())
        web = stack.enter_context(servers.serving(_web(system, database, env), logs, name))
        running = Running(system, web, workers, database)
        stack.callback(running.close)
        _wait_ready(running)
        yield running


def _pgq_install(database: str, log_path: Path) -> None:
    """Create PgQueuer's tables with its CLI (``pgq install``), as its docs say to."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        done = subprocess.run(
            [_script("pgq"), "--pg-dsn", database, "install"],
            cwd=servers.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=READY_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"pgq install failed ({done.returncode}); see {log_path}")


def _ours_env(system: System, database: str, name: str) -> dict[str, str]:
    """The settings of our web and worker processes on PostgreSQL."""
    env = {
        "QUART_TASKS_DATABASE": database,
        "QUART_TASKS_MAX_QUEUED": str(RAISED_QUEUE),
        "QUART_TASKS_MAX_RUNNING": "8",
    }
    if system.handoff == "store":
        env["QUART_TASKS_RUN_TASKS"] = "false"
    if system.handoff == "redis":
        env["QUART_TASKS_BROKER"] = system.redis_url
        env["QUART_TASKS_BROKER_QUEUE"] = f"bench-{name}"
    return env


def _web(system: System, database: Path | str | None, env: dict[str, str]) -> servers.ServerSpec:
    pairs = tuple(env.items())
    if system.kind == "rq":
        return servers.ServerSpec("bench.apps.rq_app:app", "gunicorn", "sync", pairs)
    if system.kind == "celery":
        return servers.ServerSpec("bench.apps.celery_app:app", "gunicorn", "sync", pairs)
    if system.kind in ("taskiq", "pgqueuer", "dbos"):
        app = f"bench.apps.{system.kind}_app:create_app()"
        return servers.ServerSpec(app, "hypercorn", "uvloop", pairs)
    assert database is not None
    # Peers queue without limit; so does ours here, so that none of the burst is refused.
    ours = {key: value for key, value in env.items() if key.startswith("QUART_")}
    spec = servers.product(
        "uvloop", database, **ours | {"QUART_TASKS_MAX_QUEUED": str(RAISED_QUEUE)}
    )
    return dataclasses.replace(spec, workers=system.workers)


def _worker_commands(system: System) -> list[list[str]]:
    if system.kind == "rq":
        return [[_script("rq"), "worker", "-c", "bench.apps.rq_app"]] * system.workers
    if system.kind == "celery":
        return [[_script("celery"), "-A", "bench.apps.celery_app:celery", "worker"]]
    if system.kind == "taskiq":
        return [[_script("taskiq"), "worker", "bench.apps.taskiq_app:broker"]]
    if system.kind == "pgqueuer":
        return [[_script("pgq"), "run", "bench.apps.pgqueuer_app:main"]]
    if system.kind == "dbos":
        return [[sys.executable, "-m", "bench.apps.dbos_app"]]
    # ours runs its tasks in the web server's processes, or in ``tasks worker`` processes
    return [[_script("quart"), "--app", servers.OURS, "tasks", "worker"]] * system.task_workers


def _script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: install the bench extra (pip install -e '.[bench]')")
    return str(path)


def _wait_ready(running: Running) -> None:
    """Wait until every worker process listens, then run a few tasks through the system."""
    system = running.system
    deadline = time.monotonic() + READY_TIMEOUT
    while not _workers_listen(running):
        running.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.label}: workers not ready after {READY_TIMEOUT} s")
        time.sleep(0.1)  # polling other processes
    for _ in range(WARM_UP):
        _post(running.web.port)
    while running.finished() < WARM_UP:
        running.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.label}: warm-up tasks unfinished after {READY_TIMEOUT} s")
        time.sleep(0.05)


def _workers_listen(running: Running) -> bool:
    if running.system.kind == "rq":
        assert running.redis is not None
        return int(running.redis.scard("rq:workers")) >= running.system.workers
    if running.system.kind == "taskiq":  # each worker process logs it once
        return _log(running.workers[0]).count("Listening started.") >= 2
    if running.system.kind == "ours":  # a worker logs it once its services run
        return all("tasks worker ready" in _log(worker) for worker in running.workers)
    if running.system.kind == "dbos":  # logged once launched (its tables made) with the queue
        return "Registered and listening to new queue" in _log(running.workers[0])
    # Celery's pool starts before it consumes; ours is ready when it answers; PgQueuer's worker
    # logs nothing as it starts, and takes what was queued before it listened when it does.
    return True


def _log(worker: servers.Background) -> str:
    """What the worker has logged since it started (not what an earlier run left there)."""
    if not worker.log_path.exists():
        return ""
    with worker.log_path.open("rb") as log:
        log.seek(worker.log_offset)
        return log.read().decode(errors="replace")


def _post(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/tasks/noop", b"{}", {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"POST /tasks/noop answered {response.status}")
    finally:
        connection.close()
