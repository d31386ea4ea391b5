"""``python -m bench.profile``: where the CPU goes, sampled with py-spy.

``http TARGET``  serves TARGET (``noop``: our ``POST /tasks/noop``, queue raised as in case
                 (c); ``noop-default-queue``: the same with the default queue limit; ``plain``:
                 a bare Quart JSON endpoint; ``background``: Quart's ``add_background_task``)
                 under wrk load, once to read each thread's CPU time and once under
                 ``py-spy record --gil``; the accepted tasks run before the CPU is read;
``engine``       runs the engine benchmark's SQLite coroutine case under py-spy.

``--gil`` samples only the thread holding the GIL, so samples add up to the Python CPU time of
the process wherever it went (event loop, the store's thread, pool threads); SQLite's own C
code runs with the GIL released and shows in the per-thread CPU times instead. The summary
converts samples to microseconds per request (or per task), groups them by area, and lists
the heaviest functions; the collapsed stacks are kept for a flame graph.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from . import servers
from .scheduling import RAISED_QUEUE, wait_idle
from .wrk import run_wrk

RATE = 250  # samples per second

TARGETS = {
    "noop": "/tasks/noop",
    "noop-default-queue": "/tasks/noop",
    "plain": "/plain",
    "background": "/background",
}


def py_spy(output: Path) -> tuple[str, ...]:
    path = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(path).exists():
        raise SystemExit('py-spy is not installed: pip install -e ".[bench]"')
    spy = (path, "record", "--gil", "--rate", str(RATE), "--format", "raw", "-o", str(output))
    return (*spy, "--")


def _spec(target: str, worker_class: str, folder: Path) -> servers.ServerSpec:
    """As in the scheduling benchmark: (c) with the queue raised, or with its default limit."""
    if target == "noop":
        raised = str(RAISED_QUEUE)
        return servers.product(
            worker_class, folder / "tasks.sqlite3", QUART_TASKS_MAX_QUEUED=raised
        )
    if target == "noop-default-queue":
        return servers.product(worker_class, folder / "tasks.sqlite3")
    return servers.quart_raw(worker_class)


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of process ``pid``."""
    found = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / 100
    return found


def profile_http(out: Path, target: str, worker_class: str, seconds: int) -> dict[str, Any]:
    path = TARGETS[target]
    stacks = out / f"http-{target}-{worker_class}.stacks.txt"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        spec = _spec(target, worker_class, Path(folder))
        with servers.serving(spec, out / "logs", f"http-{target}-threads") as server:
            assert server.process is not None
            run_wrk(server.url + path, seconds=1, connections=16)
            before = thread_cpu(server.process.pid)
            plain = run_wrk(server.url + path, seconds=seconds, connections=16)
            _settle(server, target)
            after = thread_cpu(server.process.pid)
        per_thread = sorted(
            ((after[tid] - before.get(tid, 0.0)) / plain["requests"] * 1e6 for tid in after),
            reverse=True,
        )
        log = out / "logs" / f"http-{target}-py-spy.log"
        server = servers.Server(spec, log, prefix=py_spy(stacks))
        server.start()
        try:
            profiled = run_wrk(server.url + path, seconds=seconds, connections=16)
            _settle(server, target)
        finally:
            server.kill(signal.SIGINT, timeout=60)  # py-spy writes its file when the server exits
    return {
        "stacks": stacks,
        "unit": "request",
        "count": profiled["requests"],
        "notes": [
            f"without profiler: {plain['requests_per_s']:.0f} req/s, non-2xx {plain['non_2xx']}",
            "CPU per request of each thread (us, user+system, busiest first): "
            + ", ".join(f"{value:.0f}" for value in per_thread if value > 0),
            f"under py-spy: {profiled['requests_per_s']:.0f} req/s, non-2xx {profiled['non_2xx']}",
        ],
    }


def _settle(server: servers.Server, target: str) -> None:
    if target.startswith("noop"):
        wait_idle(server)


def profile_engine(out: Path, tasks: int) -> dict[str, Any]:
    stacks = out / "engine-sqlite-coroutine.stacks.txt"
    command = [sys.executable, "-m", "bench.profile", "engine-target", "--tasks", str(tasks)]
    done = subprocess.run(
        [*py_spy(stacks), *command],
        cwd=servers.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return {"stacks": stacks, "unit": "task", "count": tasks, "notes": [done.stdout.strip()]}


def engine_target(tasks: int) -> None:
    from .engine import measure

    with tempfile.TemporaryDirectory() as folder:
        result = measure("sqlite_coroutine", "uvloop", tasks, tasks, Path(folder))
    print(
        f"under py-spy: {result['tasks_per_s']:.0f} tasks/s, "
        f"{result['cpu_us_per_task']:.0f} us of process CPU per task"
    )


#: Where a sample's CPU went: the first area whose marker is in its stack (order matters).
AREAS = (
    ("SQLite store thread (statements, JSON encoding, commits)", "ConnectionThread._serve"),
    ("running tasks (Runner._run: attempt, records, store calls)", "Runner._run"),
    ("other background-task machinery (Quart wrapper, app context)", "add_background_task"),
    ("the view POST /tasks/<name> (validate, record, store.create)", "submit (tasks/web/api.py"),
    ("Quart request handling, view and error handlers", "Quart.handle_request"),
    ("Quart response sending (ASGI send, h11, socket write)", "_send_response"),
    ("Hypercorn + h11: reading and parsing requests, connections", "hypercorn/"),
    ("submitters (engine benchmark)", "_submit.<locals>.submitter"),
)
#: Functions whose inclusive share is worth seeing on its own, wherever they were called.
WATCH = (
    "Logger._log", "TaskRecord.to_dict", "_dump", "TaskDefinition.validate",
    "TaskDefinition.bind", "TaskRecord.replace", "TaskContext.__init__", "utcnow", "new_task_id",
    "jsonify", "SQLiteStore._run", "ConnectionThread._execute", "_settle", "timeout", "enter",
)  # fmt: skip


def summarize(stacks: Path, unit: str, count: int, top: int = 25) -> str:
    """CPU per ``unit`` by area, by watched function, and the top functions (inclusive, self).

    Samples taken while modules were being imported (start-up) are left out.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    watched: Counter[str] = Counter()
    total = 0
    for entry in stacks.read_text().splitlines():
        stack, _, count_text = entry.rpartition(" ")
        if not stack or "_find_and_load" in stack:
            continue
        samples = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
        areas[next((name for name, marker in AREAS if marker in stack), "other")] += samples
        names = {frame.split(" (")[0] for frame in frames}
        for name in WATCH:
            if name in names:
                watched[name] += samples

    def share(name: str, samples: int) -> str:
        per_unit = samples / RATE / count * 1e6
        return f"{100 * samples / total:6.1f} %  {per_unit:8.1f} us/{unit}  {name}"

    lines = [
        f"{total} samples with the GIL held, start-up left out: {total / RATE:.1f} s of CPU, "
        f"{total / RATE / count * 1e6:.0f} us per {unit} over {count} {unit}s"
    ]
    sections = (
        ("CPU by area", areas, len(AREAS) + 1),
        ("watched functions (inclusive)", watched, len(WATCH)),
        (f"top {top} functions, inclusive", inclusive, top),
        (f"top {top} functions, self", own, top),
    )
    for title, counter, limit in sections:
        lines += ["", f"-- {title}"]
        lines += [share(name, samples) for name, samples in counter.most_common(limit)]
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "python3.11/", "/work/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.rsplit(':', 1)[0]})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=("http", "engine", "engine-target"))
    parser.add_argument("target", nargs="?", choices=tuple(TARGETS), default="noop")
    parser.add_argument("--out", type=Path, default=servers.ROOT / "bench" / "results" / "profiles")
    parser.add_argument("--worker-class", default="uvloop", choices=("asyncio", "uvloop"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=20_000)
    options = parser.parse_args()
    if options.what == "engine-target":
        engine_target(options.tasks)
        return
    options.out.mkdir(parents=True, exist_ok=True)
    if options.what == "http":
        found = profile_http(options.out, options.target, options.worker_class, options.seconds)
    else:
        found = profile_engine(options.out, options.tasks)
    summary = "\n".join(found["notes"]) + "\n\n"
    summary += summarize(found["stacks"], found["unit"], found["count"])
    report = found["stacks"].with_name(found["stacks"].name.replace(".stacks.", ".summary."))
    report.write_text(summary)
    print(summary)
    print(f"stacks: {found['stacks']}\nsummary: {report}")


if __name__ == "__main__":
    main()
