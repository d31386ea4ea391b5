"""PNG plots of one run's results (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): the backend must be chosen first
from matplotlib.axes import Axes

OURS_COLOR = "#d62728"
OTHER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")
BASE_COLOR = "#1f77b4"


def draw(results: dict[str, Any], folder: Path) -> list[Path]:
    drawers = {
        "response": _response,
        "scheduling": _scheduling,
        "engine": _engine,
        "loop": _loop,
        "memory": _memory,
        "stores": _stores,
    }
    written = []
    for key, drawer in drawers.items():
        if key in results["parts"]:
            path = folder / f"{key}.png"
            figure = drawer(results["parts"][key])
            figure.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(figure)
            written.append(path)
    return written


def _response(part: dict[str, Any]) -> Any:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    approaches = dict.fromkeys((row["approach"], row["label"]) for row in part["rows"])
    durations = sorted({row["duration_s"] for row in part["rows"]})
    panels: tuple[tuple[str, Callable[[dict[str, Any]], float]], ...] = (
        ("Time to the response headers (p50)", lambda row: row["headers"]["p50_ms"]),
        ("Time to the complete response (p50)", lambda row: row["body"]["p50_ms"]),
        ("Wait of a second request to the same worker", lambda row: row["probe_wait_ms"]),
    )
    others = iter(OTHER_COLORS)
    colors = {key: OURS_COLOR if key == "quart_tasks" else next(others) for key, _ in approaches}
    for axis, (title, value) in zip(axes, panels, strict=True):
        axis.plot(durations, [d * 1000 for d in durations], ":", color="grey", label="the work")
        for key, label in approaches:
            rows = sorted(
                (row for row in part["rows"] if row["approach"] == key),
                key=lambda row: row["duration_s"],
            )
            axis.plot(
                [row["duration_s"] for row in rows],
                [value(row) for row in rows],
                "o-",
                label=label,
                color=colors[key],
                linewidth=2.5 if key == "quart_tasks" else 1.2,
                zorder=3 if key == "quart_tasks" else 2,
            )
        axis.set_title(title, fontsize=10)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("task duration (s)")
        axis.set_ylabel("ms (log scale)")
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    return figure


def _scheduling(part: dict[str, Any]) -> Any:
    rows = part["rows"]
    figure, axes = plt.subplots(1, 3, figsize=(15, 0.5 * len(rows) + 1.8), sharey=True)
    labels = [row["label"] for row in rows]
    colors = [OURS_COLOR if row["case"] == "c" else BASE_COLOR for row in rows]
    panels = (
        ("ok_per_s", "2xx responses per second (higher is better)", "{:,.0f}"),
        ("p99_ms", "p99 latency, ms (lower is better)", "{:.1f}"),
        ("cpu_us_per_request", "server CPU per request, us (lower is better)", "{:,.0f}"),
    )
    for axis, (key, title, fmt) in zip(axes, panels, strict=True):
        axis.barh(labels, [row[key] for row in rows], color=colors)
        for index, row in enumerate(rows):
            axis.text(row[key], index, " " + fmt.format(row[key]), va="center", fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.grid(True, axis="x", alpha=0.3)
        axis.margins(x=0.18)
    axes[0].invert_yaxis()
    wrk = part["wrk"]
    figure.suptitle(
        f"wrk -t{wrk['threads']} -c{wrk['connections']}, {wrk['seconds']} s x {wrk['rounds']} "
        "interleaved rounds (median), one worker process each",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def _engine(part: dict[str, Any]) -> Any:
    rows = part["rows"]
    figure, axis = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.5))
    labels = [f"{row['label']}, {row['kind']} ({row['loop']})" for row in rows]
    palette = {"sqlite": OURS_COLOR, "memory": BASE_COLOR, None: "#7f7f7f"}
    colors = [palette[row["store"]] for row in rows]
    axis.barh(labels, [row["tasks_per_s"] for row in rows], color=colors)
    for index, row in enumerate(rows):
        axis.text(row["tasks_per_s"], index, f" {row['tasks_per_s']:,.0f}", va="center", fontsize=8)
    axis.axvline(20_000, color="grey", linestyle=":", label="target: 20 000 tasks/s")
    axis.set_xscale("log")
    axis.set_xlim(right=max(row["tasks_per_s"] for row in rows) * 1.6)  # room for the labels
    axis.set_xlabel("no-op tasks per second, submitted and run to the end (log)")
    axis.invert_yaxis()
    axis.legend(fontsize=8)
    axis.grid(True, axis="x", which="both", alpha=0.3)
    return figure


def _loop(part: dict[str, Any]) -> Any:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    _phase_bars(left, part, "lag", "Event-loop lag")
    _phase_bars(right, part, "http", "GET /tasks/<id> latency")
    left.axhline(5, color="grey", linestyle=":", label="target p99: 5 ms")
    left.legend(fontsize=8)
    figure.suptitle(
        f"idle vs {part['threads']} blocking thread tasks + {part['coroutines']} waiting "
        "coroutine tasks",
        fontsize=9,
    )
    return figure


def _phase_bars(axis: Axes, part: dict[str, Any], metric: str, title: str) -> None:
    names, values, colors = [], [], []
    for row in part["rows"]:
        for phase, color in (("idle", BASE_COLOR), ("loaded", OURS_COLOR)):
            for stat in ("p50_ms", "p99_ms"):
                names.append(f"{row['worker_class']}\n{phase}\n{stat[:3]}")
                values.append(row[phase][metric][stat])
                colors.append(color)
    axis.bar(names, values, color=colors)
    for index, value in enumerate(values):
        axis.text(index, value, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
    axis.set_title(title)
    axis.set_ylabel("ms")
    axis.tick_params(axis="x", labelsize=7)
    axis.grid(True, axis="y", alpha=0.3)


def _memory(part: dict[str, Any]) -> Any:
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for row in part["rows"]:
        points = row["points"]
        axis.plot(
            [count for count, _ in points],
            [(rss - points[0][1]) / 2**20 for _, rss in points],
            "o-",
            label=f"{row['store']} store: {row['bytes_per_task']:,.0f} bytes/task",
            color=OURS_COLOR if row["store"] == "sqlite" else BASE_COLOR,
        )
    largest = max(row["waiting"] for row in part["rows"])
    axis.plot([0, largest], [0, largest * 3 / 1024], ":", color="grey", label="target: 3 KiB/task")
    axis.set_xlabel("waiting tasks")
    axis.set_ylabel("RSS growth (MiB)")
    axis.set_title("Resident memory of waiting tasks (fresh process)")
    axis.legend(fontsize=8)
    axis.grid(True, alpha=0.3)
    return figure


def _stores(part: dict[str, Any]) -> Any:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
    names = [row["store"] for row in part["rows"]]
    throughput.bar(names, [row["tasks_per_s"] for row in part["rows"]], color=OURS_COLOR)
    throughput.set_title(f"Tracked no-op tasks/s ({part['tasks']:,} tasks, {part['loop']})")
    throughput.set_ylabel("tasks/s")
    events = part["events"]
    latency.bar(
        [row["store"] for row in events], [row["p50_ms"] for row in events], color=BASE_COLOR
    )
    latency.set_title("Write here to event on another process (p50)")
    latency.set_ylabel("ms")
    return figure
