"""Drive load with Debian's ``wrk`` and read its summary (printed by lua/post_json.lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "lua" / "post_json.lua"
MARKER = "BENCH_JSON "


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "wrk is not installed; on Debian or Ubuntu: apt-get install -y wrk (see BENCHMARKS.md)"
        )
    return path


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    method: str = "POST",
    body: str = "{}",
) -> dict[str, Any]:
    """Load ``url`` for ``seconds``; return requests/s, latency percentiles (ms) and errors."""
    command = [
        require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(SCRIPT), url,
    ]  # fmt: skip
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": body}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=seconds + 30, check=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1].removeprefix(MARKER))
    elapsed = raw["duration_us"] / 1e6
    errors = sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / elapsed if elapsed else 0.0,
        # Only 2xx answers did their job: a 503 (queue full) is a refusal.
        "ok_per_s": (raw["requests"] - raw["status_errors"]) / elapsed if elapsed else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["status_errors"],
        "socket_errors": errors,
    }
