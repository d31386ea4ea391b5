"""``python -m bench``: run the benchmarks, print the tables, write JSON, Markdown and PNGs."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import (
    engine,
    limits,
    loop_health,
    machine,
    memory,
    pace,
    peers,
    plots,
    producer,
    report,
    response,
    scheduling,
    steps,
    stores,
    targets,
    tracing,
    workers,
)
from .servers import ROOT
from .settings import FULL, SMOKE
from .wrk import require_wrk

PARTS = {
    "response": response.run,
    "scheduling": scheduling.run,
    "engine": engine.run,
    "loop": loop_health.run,
    "memory": memory.run,
    "stores": stores.run,
    "pace": pace.run,
    "steps": steps.run,
    "limits": limits.run,
    "tracing": tracing.run,
    "producer": producer.run,
}
#: Parts that run only when named: they need services the default run does not (Redis;
#: workers also PostgreSQL, and minutes)
OPTIONAL = {"peers": peers.run, "workers": workers.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds-long; for CI")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {', '.join(PARTS)}; or {', '.join(OPTIONAL)}, "
        "which run only when named (peers needs Redis, workers Redis and PostgreSQL)",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: bench/results/<time>[-smoke])"
    )
    parser.add_argument(
        "--replot", type=Path, metavar="DIR", help="redraw the tables and plots of a run in DIR"
    )
    options = parser.parse_args()
    if options.replot:
        earlier: dict[str, Any] = json.loads((options.replot / "results.json").read_text())
        (options.replot / "results.md").write_text(report.markdown(earlier))
        print("plots:   " + ", ".join(map(str, plots.draw(earlier, options.replot))))
        return
    chosen = [part.strip() for part in options.parts.split(",") if part.strip()]
    runners = PARTS | OPTIONAL
    unknown = sorted(set(chosen) - set(runners))
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; choose from {', '.join(runners)}")
    if {"response", "scheduling", "pace", "peers"} & set(chosen):
        require_wrk()
    settings = SMOKE if options.smoke else FULL
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = options.out or ROOT / "bench" / "results" / (stamp + ("-smoke" if options.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "started": stamp,
        "smoke": settings.smoke,
        "settings": vars(settings) | {"worker_classes": list(settings.worker_classes)},
        "machine": machine.describe(),
        "parts": {},
        "seconds": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for name in chosen:
            print(f"== {name}", flush=True)
            began = time.perf_counter()
            results["parts"][name] = runners[name](settings, Path(workdir), out / "logs")
            results["seconds"][name] = round(time.perf_counter() - began, 1)
    results["machine"]["load_average_after"] = machine.describe()["load_average"]
    results["targets"] = targets.evaluate(results)

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    tables = report.markdown(results)
    (out / "results.md").write_text(tables)
    written = plots.draw(results, out)
    print()
    print(tables)
    print(f"results: {out / 'results.json'}, {out / 'results.md'}")
    print("plots:   " + ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
