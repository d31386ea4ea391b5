"""The benchmark suite's smoke run: every part at tiny sizes, so that the suite keeps working.

Nothing here asserts on timings: the smoke run is too short, and the machine too shared.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, tool_environment

PARTS = {
    "response", "scheduling", "engine", "loop", "memory", "stores", "pace", "steps", "limits",
    "tracing", "producer",
}  # fmt: skip
PLOTTED = PARTS - {"pace", "steps", "limits", "tracing", "producer"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.server
@pytest.mark.bench
@pytest.mark.timeout(480)
def test_smoke_run_covers_every_part_and_records_every_target(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed: apt-get install -y wrk (see BENCHMARKS.md)")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=tool_environment(),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["parts"]) == PARTS
    assert results["smoke"] is True
    targets = results["targets"]
    # (c) vs (b), vs GET /healthz and vs (d), response p99, tasks/s and share of raw asyncio,
    # loop lag, memory, tasks finished when a load ends, completed/s under overload, 503 cost
    assert len(targets) == 11
    for target in targets:
        assert isinstance(target["met"], bool)
        assert target["value"] == target["value"], f"{target['target']} measured nothing"
    approaches = {row["approach"] for row in results["parts"]["response"]["rows"]}
    assert {"quart_tasks", "flask_after_request", "flask_teardown_request"} <= approaches
    assert all(row["non_2xx"] == 0 for row in results["parts"]["response"]["rows"])
    for part in PLOTTED:
        assert (tmp_path / f"{part}.png").read_bytes().startswith(PNG_MAGIC)
    tables = (tmp_path / "results.md").read_text()
    assert "### Targets" in tables
    steps = results["parts"]["steps"]["rows"]
    assert {row["store"] for row in steps} == {"sqlite", "postgres"}
    assert all(row["wall_us_per_step"] >= 0 for row in steps)  # a smoke run measures noise
    limited = results["parts"]["limits"]["rows"]
    assert {(row["store"], row["limit"]) for row in limited} == {
        (store, limit)
        for store in ("sqlite", "postgres")
        for limit in ("none", "concurrency", "concurrency_key", "rate_limit")
    }
    assert all(row["tasks_per_s"] > 0 for row in limited)
    traced = results["parts"]["tracing"]["rows"]
    assert [row["tracing"] for row in traced] == ["off", "on, not sampled", "on"]
    produced = results["parts"]["producer"]["rows"]
    assert {(row["store"], row["what"], row["threads"]) for row in produced} == {
        (store, what, threads)
        for threads in (1, 8)
        for store, what in [("SQLite", "producer"), ("PostgreSQL", "producer"),
                            ("PostgreSQL", "order only"), ("PostgreSQL", "order + task")]
    }  # fmt: skip
    assert all(row["calls"] >= 10 and row["per_s"] > 0 for row in produced)

    (tmp_path / "results.md").unlink()
    redrawn = subprocess.run(
        [sys.executable, "-m", "bench", "--replot", str(tmp_path)],
        cwd=ROOT,
        env=tool_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert redrawn.returncode == 0, redrawn.stderr[-3000:]
    assert (tmp_path / "results.md").read_text() == tables
