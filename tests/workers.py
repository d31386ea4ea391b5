"""``quart tasks worker`` processes for end-to-end tests, next to the servers of servers.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.servers import ROOT, ChildProcess, Server

#: the line a worker logs once it takes tasks from its broker
READY = "tasks worker ready"


class Worker(ChildProcess):
    """A ``quart --app APP tasks worker`` process (of ``queues`` only, if given), its log in
    a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        app: str,
        log_path: Path,
        concurrency: int,
        queues: tuple[str, ...] = (),
        extra_args: tuple[str, ...] = (),
        launcher: tuple[str, ...] = (),
    ) -> None:
        self.env = env
        self.app = app
        self.log_path = log_path
        self.concurrency = concurrency
        self.queues = queues
        self.extra_args = extra_args
        self.launcher = launcher  # runs the command: opentelemetry-instrument, say
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, timeout: float = 30.0) -> Worker:
        command = [
            *self.launcher, sys.executable, "-m", "quart", "--app", self.app,
            "tasks", "worker", "--concurrency", str(self.concurrency),
            *(arg for queue in self.queues for arg in ("--queue", queue)),
            *self.extra_args,
        ]  # fmt: skip
        environment = {key: value for key, value in os.environ.items() if key != "QUART_TASKS_URL"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**environment, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for_log(READY, timeout)
        return self

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the worker exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not log {text!r} in {timeout} s:\n{self.log()}")
            time.sleep(0.05)  # a process we do not control: poll its log


@contextmanager
def web_and_workers(
    env: Mapping[str, str], workers: list[Worker], *, log_path: Path, app: str
) -> Iterator[Server]:
    """Start ``workers``, then a web server of ``app`` with ``env``; stop them all after."""
    web: Server | None = None
    try:
        for worker in workers:
            worker.start()
        web = Server(env, log_path=log_path, app=app).start()
        yield web
    finally:
        if web is not None:
            web.stop()
            web.kill()
        for worker in workers:
            worker.stop()
