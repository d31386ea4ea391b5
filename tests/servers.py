"""Real Hypercorn servers in child processes, on loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from tests import loopback

ROOT = Path(__file__).resolve().parent.parent
APP = "quart_app:create_app()"


def tool_environment() -> dict[str, str]:
    """The environment for a child process that runs a tool (mypy, schemathesis, the
    benchmark suite, a user's own pytest) rather than the code under test: without coverage's
    start-up variables, so that a run with ``--cov`` does not trace it (that doubles its time,
    for nothing), and without the options given to this pytest run (``PYTEST_ADDOPTS``)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COVERAGE_") and key != "PYTEST_ADDOPTS"
    }


class ChildProcess:
    """A process of ours in a session of its own, its output in a log file."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def signal(self, signum: int, *, group: bool = False) -> None:
        assert self.process is not None
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def wait(self, timeout: float = 40.0) -> int:
        """Wait for the exit; if it does not come, fail with the log and every stack."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"pid {self.process.pid} did not exit within {timeout} s\n"
                f"--- stacks ---\n{stacks(self.process.pid)}\n--- log ---\n{self.log()}"
            ) from None

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM, then wait for a graceful exit (SIGKILL to the group if it takes too long)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and any children)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-20_000:] if self.log_path.exists() else ""


def stacks(session: int) -> str:
    """Python stacks of every process in a session (py-spy), to show where a stop hangs."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return "(py-spy is not installed)"
    try:
        listing = subprocess.run(
            ["ps", "-o", "pid=", "-s", str(session)], capture_output=True, text=True, check=False
        )
        dumps = []
        for pid in listing.stdout.split():
            dump = subprocess.run(
                [str(py_spy), "dump", "--pid", pid],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            dumps.append(f"pid {pid}:\n{dump.stdout}{dump.stderr}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(no stacks: {exc})"
    return "\n".join(dumps)


class Server(ChildProcess):
    """A ``hypercorn`` process serving the app on a socket bound to 127.0.0.1."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 0,
        extra_args: tuple[str, ...] = (),
        log_path: Path,
        app: str = APP,
        health_path: str = "/healthz",
        cwd: Path = ROOT,
        launcher: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.launcher = launcher  # runs the command: opentelemetry-instrument, say
        self.health_path = health_path
        self.cwd = cwd
        self.env = env
        self.workers = workers
        self.extra_args = extra_args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 20.0) -> Server:
        sock = loopback_socket()
        self.port = sock.getsockname()[1]
        command = [
            *self.launcher, sys.executable, "-m", "hypercorn",
            "-c", str(ROOT / "hypercorn.toml"),
            "--bind", f"fd://{sock.fileno()}",
            "--workers", str(self.workers),
            *self.extra_args,
            self.app,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
                start_new_session=True,
            )
        sock.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log()}")
            try:
                if _serving(loopback.get(f"{self.url}{self.health_path}", timeout=5.0)):
                    return
            except httpx.TransportError:
                time.sleep(0.05)  # polling a process we do not control: nothing to wait on
        raise TimeoutError(f"the server did not answer within {timeout} s:\n{self.log()}")


def loopback_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 (port 0: the kernel picks it), to hand to
    a server as ``fd://N``: no port is raced for."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _serving(health: httpx.Response) -> bool:
    """Whether the server is up: healthy, or up while its store fails (``store_failing``)."""
    if health.status_code == 200:
        return True
    with suppress(ValueError):
        return health.status_code == 503 and health.json().get("status") == "store_failing"
    return False


@contextmanager
def running_server(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    workers: int = 0,
    extra_args: tuple[str, ...] = (),
    app: str = APP,
    health_path: str = "/healthz",
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Serve ``app`` with its SQLite store in ``tmp_path``; stop (or kill) it on exit."""
    settings = {
        "QUART_TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"),
        "QUART_EXPORTS_FOLDER": str(tmp_path / "exports"),  # the example app's, if it serves
        **(env or {}),
    }
    server = Server(
        settings,
        workers=workers,
        extra_args=extra_args,
        log_path=tmp_path / "server.log",
        app=app,
        health_path=health_path,
        cwd=cwd,
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()


def connection_to_each_worker(server: Server, workers: int) -> dict[str, httpx.Client]:
    """One keep-alive connection per worker process, told apart by /healthz."""
    clients: dict[str, httpx.Client] = {}
    for _ in range(200):
        client = loopback.client(base_url=server.url, timeout=10)
        worker = client.get("/healthz").json()["worker"]
        if worker in clients:
            client.close()
        else:
            clients[worker] = client
        if len(clients) == workers:
            return clients
    raise AssertionError(f"reached {len(clients)} of {workers} workers")
