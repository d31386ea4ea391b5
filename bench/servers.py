"""Benchmark servers: each one a child process serving one app on a loopback socket.

The listening socket is bound here (port 0, so the kernel picks a free port) and handed to
the server as ``fd://N``, so a port is never raced for. Servers are stopped with SIGKILL on
their whole process group: a benchmark has no use for a graceful drain.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OURS = "quart_app:create_app()"
OURS_WITH_LAG_PROBE = "bench.apps.lag:create_app()"
QUART_RAW = "bench.apps.quart_raw:create_app()"
FLASK = "bench.apps.flask_app:app"


@dataclass(frozen=True)
class ServerSpec:
    """What to serve and how: ``hypercorn`` with a worker class, or ``gunicorn`` (Flask)."""

    app: str
    server: str = "hypercorn"
    worker_class: str = "uvloop"
    env: tuple[tuple[str, str], ...] = ()  # extra environment variables, as pairs
    #: Hypercorn's ``--workers``: 0 serves in the one process, N >= 1 spawns N worker processes
    workers: int = 0

    @property
    def label(self) -> str:
        name = self.app.split(":")[0].rsplit(".", 1)[-1]
        processes = f"-w{self.workers}" if self.workers else ""
        return f"{self.server}-{self.worker_class}-{name}{processes}"

    def command(self, fd: int) -> list[str]:
        if self.server == "hypercorn":
            # No config file: every Hypercorn server gets the same settings (no access log).
            return [
                sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}",
                "--workers", str(self.workers), "--worker-class", self.worker_class, self.app,
            ]  # fmt: skip
        if self.server == "gunicorn":
            return [
                sys.executable, "-m", "gunicorn", "--bind", f"fd://{fd}", "--workers", "1",
                "--worker-class", self.worker_class, "--log-level", "warning", self.app,
            ]  # fmt: skip
        raise ValueError(f"unknown server {self.server!r}: use hypercorn or gunicorn")


def product(
    worker_class: str, database: Path | str, *, lag_probe: bool = False, **env: str
) -> ServerSpec:
    """Our app, its store at ``database`` (a SQLite file or a URL); extra ``QUART_*`` settings
    in ``env``."""
    settings = {"QUART_TASKS_DATABASE": str(database), **env}
    app = OURS_WITH_LAG_PROBE if lag_probe else OURS
    return ServerSpec(app, "hypercorn", worker_class, tuple(sorted(settings.items())))


def quart_raw(worker_class: str) -> ServerSpec:
    return ServerSpec(QUART_RAW, "hypercorn", worker_class)


def flask(worker_class: str = "sync") -> ServerSpec:
    return ServerSpec(FLASK, "gunicorn", worker_class)


class Server:
    """A running server: its port, its log, and a way to end it."""

    def __init__(self, spec: ServerSpec, log_path: Path, prefix: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.log_path = log_path
        self.prefix = prefix  # a command that runs the server, such as a profiler
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, *self.spec.command(sock.fileno())],
                cwd=ROOT,
                env={**os.environ, **dict(self.spec.env)},
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
                start_new_session=True,
            )
        sock.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.label} exited early; see {self.log_path}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(0.05)  # the child gives no other signal that it is ready
        raise TimeoutError(f"{self.spec.label} did not answer within {timeout} s")

    def cpu_seconds(self, *, reaped: bool = False) -> float:
        """User plus system CPU time used so far by the server's processes (its group); with
        ``reaped``, that of their children that have exited too (see group_cpu_seconds)."""
        assert self.process is not None
        return group_cpu_seconds(self.process.pid, reaped=reaped)

    def kill(self, signum: int = signal.SIGKILL, timeout: float = 10) -> None:
        """Signal the whole process group and wait for the server to exit."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        self.process.wait(timeout)


def group_cpu_seconds(group: int, *, reaped: bool = False) -> float:
    """User plus system CPU time used so far by the live processes of a process group.

    With ``reaped``, add the CPU time of their children that have exited and been waited for
    (``cutime`` and ``cstime``): a worker that forks a child per job, as RQ's does, keeps
    what its children used there, while the children themselves are gone from ``/proc``.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # the process group id
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
                if reaped:
                    ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class Background:
    """A process with no port, such as a task queue's worker, in a process group of its own."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.command = command
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_offset = 0  # where this run's output begins in the log (it is appended to)

    def start(self) -> Background:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.command[0]} exited early; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time of the group, its reaped children included."""
        assert self.process is not None
        return group_cpu_seconds(self.process.pid, reaped=True)

    def kill(self, timeout: float = 10) -> None:
        """SIGKILL the whole process group and wait for the process to exit."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout)


@contextmanager
def serving(spec: ServerSpec, logs: Path, name: str | None = None) -> Iterator[Server]:
    """Start the server described by ``spec``, logging to ``logs/<name>.log``; kill it on exit."""
    server = Server(spec, logs / f"{name or spec.label}.log")
    try:
        yield server.start()
    finally:
        server.kill()
