"""Where prometheus-client keeps the metrics of every worker process of one server.

prometheus-client sums the values of several processes (its multiprocess mode) from files in
``PROMETHEUS_MULTIPROC_DIR``, and decides whether to use that mode when it is first imported.
So :func:`prepare` runs before that import. If the variable is set, its folder is used as is
(emptying it when the server starts is then the deployment's job, as prometheus-client's
documentation says). Otherwise each server gets a fresh folder of its own: Hypercorn's workers
are children of one server process, so the folder is named after that process (its pid and
start time, which no later process repeats), and folders of servers that are gone are removed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["ENV", "forget_dead_processes", "prepare"]

log = logging.getLogger("tasks")

ENV = "PROMETHEUS_MULTIPROC_DIR"
BASE = "quart-tracked-tasks-metrics"
_LIVE_GAUGE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def prepare() -> bool:
    """Choose the folder before prometheus-client is imported; False if it is too late."""
    if "prometheus_client" in sys.modules:
        late = ENV not in os.environ
        if late:
            log.warning(
                "prometheus_client was imported before the tasks metrics: /metrics counts "
                "this process only; set %s to a shared, empty folder before the server "
                "starts to count every worker",
                ENV,
            )
        return not late
    if ENV in os.environ:
        Path(os.environ[ENV]).mkdir(parents=True, exist_ok=True)
        return True
    base = Path(tempfile.gettempdir()) / BASE
    base.mkdir(exist_ok=True)
    server = multiprocessing.parent_process()
    pid = server.pid if server is not None and server.pid is not None else os.getpid()
    folder = base / _identity(pid)
    _remove_stale(base, keep=folder.name)
    folder.mkdir(exist_ok=True)
    os.environ[ENV] = str(folder)
    return True


def forget_dead_processes(folder: str) -> None:
    """Drop the gauges of worker processes that exited without saying so (e.g. SIGKILL)."""
    from prometheus_client import multiprocess

    for entry in os.scandir(folder):
        match = _LIVE_GAUGE.fullmatch(entry.name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), folder)  # type: ignore[no-untyped-call]


def _identity(pid: int) -> str:
    """``pid-starttime``: unique among the processes a machine runs until it reboots."""
    started = _start_time(pid)
    return f"{pid}-{started}" if started is not None else str(pid)


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the parenthesised name


def _remove_stale(base: Path, keep: str) -> None:
    for entry in base.iterdir():
        pid, _, _ = entry.name.partition("-")
        if entry.name == keep or not pid.isdigit():
            continue
        if not _alive(int(pid)) or entry.name != _identity(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
