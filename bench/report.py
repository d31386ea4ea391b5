"""The results as Markdown tables: printed at the end of a run and saved as results.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(str(h)), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join(
        [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)]
    )


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def response_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["label"],
            f"{row['duration_s']:g} s",
            _ms(row["headers"]["p50_ms"]),
            _ms(row["body"]["p50_ms"]),
            _ms(row["body"]["p99_ms"]),
            row["body"]["n"],
            _ms(row["probe_wait_ms"]),
            "yes" if row["worker_busy"] else "no",
        )
        for row in part["rows"]
    ]
    headers = (
        "approach", "work", "headers p50 ms", "body p50 ms", "body p99 ms", "n",
        "probe wait ms", "worker busy",
    )  # fmt: skip
    return table(headers, rows)


def checks_table(part: dict[str, Any]) -> str:
    rows = [(check["claim"], "yes" if check["holds"] else "NO") for check in part["checks"]]
    return table(("known result", "holds in this run"), rows)


def scheduling_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["label"],
            f"{row['requests_per_s']:,.0f}",
            f"{row['ok_per_s']:,.0f}",
            _ms(row["p50_ms"]),
            _ms(row["p99_ms"]),
            f"{row['cpu_us_per_request']:,.0f}",
            row["non_2xx"],
        )
        for row in part["rows"]
    ]
    headers = ("case", "req/s", "2xx/s", "p50 ms", "p99 ms", "server CPU us/req", "non-2xx")
    return table(headers, rows)


def engine_table(part: dict[str, Any]) -> str:
    rows = []
    for row in part["rows"]:
        raw_key = "raw_create_task" if row["kind"] == "coroutine" else "raw_to_thread"
        raw = next(r for r in part["rows"] if r["key"] == raw_key and r["loop"] == row["loop"])
        rows.append(
            (
                row["loop"],
                row["label"],
                row["kind"],
                f"{row['tasks_per_s']:,.0f}",
                f"{row['accepted_per_s']:,.0f}" if "accepted_per_s" in row else "",
                f"{row['cpu_us_per_task']:,.1f}",
                f"{100 * row['tasks_per_s'] / raw['tasks_per_s']:.0f} %",
            )
        )
    headers = (
        "loop", "engine", "task", "tasks/s (end to end)", "accepted/s", "CPU us/task", "of raw",
    )  # fmt: skip
    return table(headers, rows)


def loop_table(part: dict[str, Any]) -> str:
    rows = []
    for row in part["rows"]:
        for phase in ("idle", "loaded"):
            lag, http = row[phase]["lag"], row[phase]["http"]
            rows.append(
                (
                    row["worker_class"],
                    phase,
                    _ms(lag["p50_ms"]),
                    _ms(lag["p99_ms"]),
                    _ms(lag["max_ms"]),
                    _ms(http["p50_ms"]),
                    _ms(http["p99_ms"]),
                    http["n"],
                )
            )
    headers = (
        "worker class", "phase", "lag p50 ms", "lag p99 ms", "lag max ms", "HTTP p50 ms",
        "HTTP p99 ms", "requests",
    )  # fmt: skip
    return table(headers, rows)


def memory_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["store"],
            f"{row['waiting']:,}",
            f"{row['rss_before_mib']:.1f}",
            f"{row['rss_after_mib']:.1f}",
            f"{row['bytes_per_task']:,.0f}",
        )
        for row in part["rows"]
    ]
    return table(("store", "waiting tasks", "RSS before MiB", "RSS after MiB", "bytes/task"), rows)


def stores_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["store"],
            f"{row['tasks_per_s']:,.0f}",
            f"{row['accepted_per_s']:,.0f}",
            f"{row['cpu_us_per_task']:,.1f}",
        )
        for row in part["rows"]
    ]
    headers = ("store", "tasks/s (end to end)", "accepted/s", "CPU us/task")
    return table(headers, rows) + f"\n\nPostgreSQL: {part['postgres']}."


def steps_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["store"],
            row["steps"],
            row["at_once"],
            f"{row['wall_us_per_step']:,.0f}",
            f"{row['cpu_us_per_step']:,.0f}",
            f"{row['steps_per_s']:,.0f}",
        )
        for row in part["rows"]
    ]
    headers = ("store", "steps per task", "tasks at once", "wall us/step", "CPU us/step",
               "steps/s")  # fmt: skip
    return table(headers, rows) + f"\n\nPostgreSQL: {part['postgres']}."


def limits_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["store"],
            row["limit"],
            f"{row['tasks_per_s']:,.0f}",
            f"{row['cpu_us_per_task']:,.0f}",
            f"{row['cpu_us_over_none']:+,.0f}",
            f"{row['share_of_none']:.2f}",
        )
        for row in part["rows"]
    ]
    headers = ("store", "limit", "tasks/s", "CPU us/task", "CPU us over none",
               "throughput vs none")  # fmt: skip
    return table(headers, rows) + f"\n\nPostgreSQL: {part['postgres']}."


def tracing_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["tracing"],
            f"{row['tasks_per_s']:,.0f}",
            f"{row['cpu_us_per_task']:,.0f}",
            f"{row['cpu_us_over_off']:+,.0f}",
            f"{row['share_of_off']:.2f}",
        )
        for row in part["rows"]
    ]
    headers = ("tracing", "tasks/s", "CPU us/task", "CPU us over off", "throughput vs off")
    check = f"\n\nTracing off: {part['off_check_ns']:.0f} ns per check, two per task."
    return table(headers, rows) + check


def producer_table(part: dict[str, Any]) -> str:
    rows = [
        (
            row["store"],
            row["what"],
            row["threads"],
            f"{row['per_s']:,.0f}",
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            f"{row['cpu_us']:,.0f}",
        )
        for row in part["rows"]
    ]
    headers = ("store", "call", "threads", "per s", "p50 ms", "p95 ms", "CPU us each")
    numbering = [
        (
            f"{done['numbered']:,.0f}",
            f"{done['rows']:,.0f}",
            _ms(done["numbering_ms"]),
            f"{done['check_us']:.1f}",
        )
        for done in part.get("numbering", [])
    ]
    shown = table(headers, rows) + f"\n\nPostgreSQL: {part['postgres']}."
    if numbering:
        numbered = ("numbered", "rows in the table", "ms", "check with none, us")
        shown += "\n\nNumbering the rows of callers' transactions:\n\n" + table(numbered, numbering)
    return shown


def events_table(part: dict[str, Any]) -> str:
    rows = [
        (row["store"], row["n"], _ms(row["p50_ms"]), _ms(row["p90_ms"]), _ms(row["max_ms"]))
        for row in part["events"]
    ]
    headers = ("store", "changes", "p50 ms", "p90 ms", "max ms")
    return "Write in one process to event on another's `/events`:\n\n" + table(headers, rows)


def targets_table(targets: list[dict[str, Any]]) -> str:
    rows = [
        (
            target["target"],
            target["measured"],
            f"{target['value']:,.2f}",
            f"{target['comparison']} {target['limit']:g}",
            "met" if target["met"] else "MISSED",
        )
        for target in targets
    ]
    return table(("target", "measured", "value", "limit", "result"), rows)


def pace_table(part: dict[str, Any]) -> str:
    rows = [
        (
            name,
            str(row["connections"]),
            f"{row['accepted_per_s']:,.0f}",
            f"{row['refused']:,}",
            f"{row['finished_during_load']:,} of {row['accepted']:,} ({row['finished_share']:.0%})",
            f"{row['completed_per_s_during_load']:,.0f}",
            f"{row['completed_per_s_overall']:,.0f}",
            f"{row['cpu_us_per_request']:,.0f}",
        )
        for name, row in part["rows"].items()
    ]
    headers = (
        "case",
        "connections",
        "accepted/s",
        "refused",
        "finished during load",
        "completed/s during load",
        "completed/s overall",
        "server CPU µs/req",
    )
    return table(headers, rows)


def peers_table(part: dict[str, Any]) -> str:
    if "skipped" in part:
        return f"Skipped: {part['skipped'].rstrip('.')}."
    rows = []
    for row in part["rows"]:
        load = row["sustained"]
        rows.append(
            (
                row["label"],
                f"{load['accepted_per_s']:,.0f}",
                f"{load['finished_during_load']:,} of {load['accepted']:,}"
                f" ({load['finished_share']:.0%})",
                f"{load['completed_per_s']:,.0f}" + ("" if load["complete"] else " (unfinished)"),
                f"{load['cpu_us_per_task']:,.0f}",
                f"{load['web_cpu_us_per_request']:,.0f} + {load['workers_cpu_us_per_task']:,.0f}",
                f"{load['redis_cpu_us_per_task']:,.0f}",
                f"{load.get('postgres_cpu_us_per_task', 0):,.0f}",
                f"{load.get('all_cpu_us_per_task', load['cpu_us_per_task']):,.0f}",
            )
        )
    headers = (
        "system", "accepted/s", "finished during the load", "completed/s overall",
        "CPU µs/task", "web + workers", "Redis CPU µs/task", "PostgreSQL CPU µs/task",
        "all CPU µs/task",
    )  # fmt: skip
    heading = (
        f"Sustained: wrk -t{part['wrk']['threads']} -c{part['wrk']['connections']} "
        f"-d{part['seconds']}s, median of {part['rounds']} rounds by completed/s:\n\n"
    )
    return heading + table(headers, rows)


def peers_burst_table(part: dict[str, Any]) -> str:
    if "skipped" in part:
        return ""
    rows = []
    for row in part["rows"]:
        load = row["burst"]
        rows.append(
            (
                row["label"],
                f"{load['completed_per_s']:,.0f}" + ("" if load["complete"] else " (unfinished)"),
                f"{load['accepted_per_s']:,.0f}",
                f"{load['not_accepted']:,}",
                f"{load['cpu_us_per_task']:,.0f}",
                f"{row['unfinished_all_rounds']:,} of {row['accepted_all_rounds']:,}",
                f"{row['still_queued_all_rounds']:,}",
            )
        )
    headers = (
        "system", "burst tasks/s (end to end)", "submitted/s", "not accepted", "CPU µs/task",
        f"unfinished {part['drain_seconds']:g} s after a load, all rounds", "of them still queued",
    )  # fmt: skip
    heading = (
        f"Burst of {part['burst']:,} tasks over {part['wrk']['connections']} connections; "
        "tasks lost per system:\n\n"
    )
    processes = table(
        ("system", "processes"), [(row["label"], row["processes"]) for row in part["rows"]]
    )
    return heading + table(headers, rows) + "\n\n" + processes


def workers_table(part: dict[str, Any]) -> str:
    if not part["rows"]:
        return f"Not measured: {part['unavailable']}."
    rows = [
        (
            row["deployment"],
            str(row["slots"]),
            f"{row['tasks_per_s']:,.1f}",
            f"{row['ideal_tasks_per_s']:,.0f}",
            f"{row['cpu_ms_per_task']:,.2f}",
        )
        for row in part["rows"]
    ]
    headers = ("deployment", "slots", "tasks/s (end to end)", "slots / task time", "CPU ms/task")
    return (
        f"{part['tasks']} `sleep` tasks of {part['seconds']:g} s through the HTTP API, "
        f"{part['clients']} connections, {part['broker']} broker, PostgreSQL store:\n\n"
        + table(headers, rows)
        + f"\n\nTwo workers over one: {part['two_over_one']:.2f} x through the broker"
        + (
            f", {part['two_over_one_brokerless']:.2f} x without one."
            if "two_over_one_brokerless" in part
            else "."
        )
    )


SECTIONS = (
    ("response", "1. Time to response vs task duration", (response_table, checks_table)),
    ("scheduling", "2. Scheduling cost (wrk)", (scheduling_table,)),
    ("engine", "3. Engine throughput (no HTTP)", (engine_table,)),
    ("loop", "4. Event-loop health", (loop_table,)),
    ("memory", "5. Memory per waiting task", (memory_table,)),
    ("stores", "6. Stores side by side", (stores_table, events_table)),
    ("pace", "7. Keeping pace, and overload", (pace_table,)),
    ("peers", "9. Peers", (peers_table, peers_burst_table)),
    ("workers", "10. Worker processes", (workers_table,)),
    ("steps", "11. What a workflow step costs", (steps_table,)),
    ("limits", "12. What a limit costs", (limits_table,)),
    ("tracing", "13. What tracing costs", (tracing_table,)),
    ("producer", "14. Submitting from synchronous code", (producer_table,)),
)


def markdown(results: dict[str, Any]) -> str:
    parts = results["parts"]
    blocks = []
    for key, title, renderers in SECTIONS:
        if key in parts:
            shown = (render(parts[key]) for render in renderers)
            blocks.append(f"### {title}\n\n" + "\n\n".join(text for text in shown if text))
    if results["targets"]:
        blocks.append("### Targets\n\n" + targets_table(results["targets"]))
    return "\n\n".join(blocks) + "\n"
