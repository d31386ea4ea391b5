"""``python -m bench.soak``: does the SQLite file stop growing under steady load with retention?

Serves the app with a short ``TASKS_RETENTION``, drives ``POST /tasks/noop`` with wrk for the
whole run, and samples the size of the database and its WAL file every few seconds. With
retention working, the size levels off once records start to expire (after one retention
period plus a pruning interval), because SQLite reuses the pages that deletes free.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .servers import ROOT, product, serving
from .wrk import SCRIPT, require_wrk


def run(seconds: int, retention: float, sample_every: float, out: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        database = Path(workdir) / "tasks.sqlite3"
        spec = product("uvloop", database, QUART_TASKS_RETENTION=str(retention))
        with serving(spec, out / "logs", "soak") as server:
            load = subprocess.Popen(
                [require_wrk(), "-t1", "-c8", f"-d{seconds}s", "-s", str(SCRIPT),
                 f"{server.url}/tasks/noop"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            samples = []
            began = time.monotonic()
            while load.poll() is None:
                time.sleep(sample_every)  # sampling a file: there is nothing to wait on
                samples.append(_sample(database, time.monotonic() - began))
            wrk_output = load.stdout.read() if load.stdout else ""
            rows = _count_rows(database)
    return {
        "seconds": seconds,
        "retention": retention,
        "samples": samples,
        "rows_at_end": rows,
        "wrk": wrk_output.strip().splitlines()[-1] if wrk_output.strip() else "",
    }


def _sample(database: Path, at: float) -> dict[str, float]:
    def size(path: Path) -> int:
        return path.stat().st_size if path.exists() else 0

    wal = database.with_name(database.name + "-wal")
    sample = {"t": round(at, 1), "db_bytes": size(database), "wal_bytes": size(wal)}
    if database.exists():
        sample["rows"] = _count_rows(database)
    return sample


def _count_rows(database: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        count: int = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()
    return count


def summary(result: dict[str, Any]) -> str:
    """A Markdown table of the samples, one row every ~15 s."""
    lines = [
        "| time (s) | records in the file | database (MB) | WAL (MB) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    step = max(1, len(result["samples"]) // 12)
    for sample in result["samples"][::step]:
        database, wal = sample["db_bytes"] / 1e6, sample["wal_bytes"] / 1e6
        rows = sample.get("rows", 0)
        lines.append(f"| {sample['t']:.0f} | {rows:,.0f} | {database:.2f} | {wal:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--retention", type=float, default=10.0)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    result = run(options.seconds, options.retention, options.sample_every, options.out)
    (options.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"rows at the end: {result['rows_at_end']}; wrk: {result['wrk']}")


if __name__ == "__main__":
    main()
