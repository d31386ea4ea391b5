"""The dashboard at ``/``: the task list kept live from ``/events``, a form, filters.

The page is rendered here with the newest tasks; ``static/dashboard.js`` then follows the
event stream from the sequence number the page was rendered at, so no change falls between
the two. Task data reaches the page only through Jinja's autoescaping and, in the script,
through ``textContent``; the Content-Security-Policy allows no inline script on top of that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from quart import Response, render_template, request, url_for

from ..app.extension import Tasks
from ..records import State, TaskRecord
from .base import blueprint, extension
from .elsewhere import waiting_for_runner
from .errors import BadRequest
from .search import SEARCH_ARGS, search_filters
from .security import PAGE_HEADERS

__all__ = ["format_seconds", "outcome", "percent", "progress_text", "waiting_marker"]

#: how many of the newest tasks the page lists
PAGE_SIZE = 100


@blueprint.get("/")
async def dashboard() -> Response:
    tasks = extension()
    runner = tasks.runner
    state, name = _filters(tasks)
    search = {key: request.args.get(key, "") for key in sorted(SEARCH_ARGS)}
    filters = search_filters(search)
    after = await runner.records.last_seq()  # before the query: the stream resumes from here
    records = await runner.records.query(state=state, name=name, limit=PAGE_SIZE, **filters)
    page = await render_template(
        "tasks/dashboard.html",
        base=url_for("tasks.dashboard"),
        signed_in=bool(tasks.settings.api_token),
        records=records,
        after=after,
        task_types=[definition.to_dict() for definition in tasks.registry],
        known=tasks.registry.names,
        states=[member.value for member in State],
        state_filter=state.value if state else "",
        name_filter=name or "",
        search=search,
        page_size=PAGE_SIZE,
        now=datetime.now(UTC).isoformat(),
    )
    return Response(page, headers=PAGE_HEADERS)


def _filters(tasks: Tasks) -> tuple[State | None, str | None]:
    unknown = set(request.args) - {"state", "name", *SEARCH_ARGS}
    if unknown:
        raise BadRequest(
            f"unknown query parameter {sorted(unknown)[0]!r}; use state, name, q, id, since, until"
        )
    raw_state = request.args.get("state") or None
    name = request.args.get("name") or None
    try:
        state = State(raw_state) if raw_state else None
    except ValueError:
        valid = ", ".join(member.value for member in State)
        raise BadRequest(f"state must be one of {valid}, not {raw_state!r}") from None
    if name is not None and name not in tasks.registry:
        known = ", ".join(definition.name for definition in tasks.registry)
        raise BadRequest(f"name must be a registered task ({known}), not {name!r}")
    return state, name


@blueprint.app_template_filter("tasks_compact_json")
def compact_json(value: Any) -> str:
    """JSON on one line, as text (Jinja escapes it like any other string)."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


@blueprint.app_template_filter("tasks_percent")
def percent(record: TaskRecord) -> int | None:
    """How far along the task is, 0 to 100, or None when that is unknown."""
    if record.state is State.SUCCEEDED:
        return 100  # whatever it last reported
    progress = record.progress
    if progress is not None and progress.total:
        return max(0, min(100, round(100 * progress.current / progress.total)))
    return None


@blueprint.app_template_filter("tasks_progress_text")
def progress_text(record: TaskRecord) -> str:
    """Mirrors ``progressText`` in static/dashboard.js."""
    progress = record.progress
    if record.state is State.SCHEDULED and record.run_at is not None:
        return f"runs at {record.to_dict()['run_at']}"
    if progress is None:
        return ""
    shown = progress.current
    if record.state is State.SUCCEEDED and progress.total is not None:
        shown = progress.total  # it ended: all of it is done, whatever it last reported
    parts = [_number(shown)]
    if progress.total is not None:
        parts[0] += f" / {_number(progress.total)}"
    share = percent(record)
    if share is not None:
        parts.append(f"{share} %")
    if progress.message:
        parts.append(progress.message)
    return " · ".join(parts)


@blueprint.app_template_filter("tasks_waiting_marker")
def waiting_marker(record: TaskRecord, known: frozenset[str]) -> str:
    """Mirrors ``waitingFor`` in static/dashboard.js: a live task this app cannot run."""
    if waiting_for_runner(record, known) is None:
        return ""
    return f"waiting for a process that runs {record.name}"


@blueprint.app_template_filter("tasks_duration")
def duration(record: TaskRecord) -> str:
    """Run time: started to finished, or to now while running; a dash before it starts."""
    if record.started_at is None:
        return "—"
    end = record.finished_at or datetime.now(record.started_at.tzinfo)
    return format_seconds((end - record.started_at).total_seconds())


@blueprint.app_template_filter("tasks_outcome")
def outcome(record: TaskRecord) -> str:
    """The error, or the result of a task that succeeded."""
    if record.error is not None:
        return f"{record.error.type}: {record.error.message}"
    if record.state is State.SUCCEEDED and record.result is not None:
        return compact_json(record.result)
    return ""


def format_seconds(seconds: float) -> str:
    """Mirrors ``formatSeconds`` in static/dashboard.js."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
