"""The HTTP API: ``/tasks`` to submit, read, list and cancel tasks; JSON in and out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from quart import Response, jsonify, request
from werkzeug.exceptions import RequestTimeout

from .. import codec, tracing
from ..errors import TaskNotFinished, TaskNotFound
from ..options import MAX_PRIORITY, MAX_RETRIES, OptionFields, SubmitOptions
from ..records import State
from . import task_page
from .base import blueprint, runner, task_url
from .elsewhere import queued_elsewhere, waiting_for_runner
from .errors import BadRequest, mark_body_read
from .later_args import REPLAYED_HEADER, at_arg, delay_arg, idempotency_key
from .numbers import decimal_number, whole_number
from .search import SEARCH_ARGS, search_filters

__all__ = ["query_args"]

SUBMIT_OPTIONS = {"timeout", "retries", "delay", "at", "priority"}
MAX_LIMIT = 1000


@blueprint.get("/healthz")
async def healthz() -> tuple[Response, int]:
    """200 while tasks are accepted; 503 once shutdown has begun or while the store fails,
    so that balancers move on.

    ``waiting_for_runner``: the queued tasks of names this app does not run, by name (null
    while draining or while the store fails, or if it does not answer at once).
    """
    active = runner()
    if not active.accepting:
        status = "draining"
    elif active.store_health.failing:
        status = "store_failing"
    else:
        status = "ok"
    body = jsonify(
        status=status,
        running=active.running,
        waiting=active.waiting,
        worker=active.owner,
        store=active.store_health.to_dict(),
        waiting_for_runner=(
            await queued_elsewhere(active.records, active.registry.names)
            if status == "ok"
            else None
        ),
    )
    return body, 200 if status == "ok" else 503


@blueprint.get("/task-types")
async def task_types() -> Response:
    """The registered tasks and their parameters, for clients that build forms."""
    return jsonify(task_types=[definition.to_dict() for definition in runner().registry])


@blueprint.post("/tasks/<name>")
async def submit(name: str) -> tuple[Response, int, dict[str, str]]:
    """Accept a task: the body is a JSON object of keyword arguments.

    ``202`` for a new task; ``200`` with ``Idempotent-Replayed: true`` for a replay of the
    task that already has the request's ``Idempotency-Key``.
    """
    active = runner()
    active.registry.get(name)  # 404 for an unknown name before reading the body
    key = idempotency_key()
    kwargs = await _json_object_body()
    with tracing.continued(request.headers):  # a traceparent header: its trace goes on
        submitted = await active.accept(name, kwargs, _submit_options(key))
    headers = {"Location": task_url(submitted.record.id)}
    if submitted.replayed:
        headers[REPLAYED_HEADER] = "true"
    return jsonify(submitted.record.to_dict()), 200 if submitted.replayed else 202, headers


@blueprint.get("/tasks/<task_id>")
async def status(task_id: str) -> Response:
    """The record, and ``waiting_for_runner``: why a live task of a name this app does not
    run waits (for a process that runs it), or null. A browser (``Accept`` preferring
    ``text/html``) gets the task's page instead."""
    active = runner()
    record = await active.get(task_id)
    if task_page.wants_page():
        return await task_page.page(record)
    body = record.to_dict()
    body["waiting_for_runner"] = waiting_for_runner(record, active.registry.names)
    response = jsonify(body)
    response.headers.update(task_page.VARY)
    return response


@blueprint.get("/tasks")
async def listing() -> Response:
    """Newest first; ``before=<id>`` continues after the last task of a previous page;
    ``q``, ``id``, ``since`` and ``until`` search (:mod:`.search`)."""
    allowed = {"state", "name", "limit", "before", *SEARCH_ARGS}
    query = query_args(allowed, "use state, name, limit, before, q, id, since, until")
    filters = search_filters(query)
    state = _state_arg(query.get("state"))
    limit = int_arg("limit", query.get("limit"), default=100, low=1, high=MAX_LIMIT)
    records = runner().records
    before = query.get("before") or None
    if before is not None and await records.get(before) is None:
        raise TaskNotFound(f"before: no task has the id {before!r}; page on from a listed task")
    page = await records.query(
        state=state, name=query.get("name") or None, limit=limit, before=before, **filters
    )
    return jsonify(tasks=[record.to_dict() for record in page])


@blueprint.post("/tasks/<task_id>/rerun")
async def rerun(task_id: str) -> tuple[Response, int, dict[str, str]]:
    """A new task with the same name, arguments, timeout and retries as a finished one."""
    query_args(set(), "running a task again takes no query parameters")
    active = runner()
    original = await active.get(task_id)
    if not original.state.terminal:
        raise TaskNotFinished(
            f"task {task_id} is still {original.state.value}; only a finished task can be "
            "run again (cancel it first, or wait for it to end)"
        )
    definition = active.registry.get(original.name)
    retries = original.max_attempts - 1
    # Overrides only where the original had one: the task's own settings may be out of the
    # range an override may take.
    options = SubmitOptions(
        timeout=None if original.timeout == definition.timeout else original.timeout,
        retries=None if retries == definition.retries.retries else retries,
    )
    with tracing.continued(request.headers):
        record = await active.submit(original.name, original.kwargs, options)
    return jsonify(record.to_dict()), 202, {"Location": task_url(record.id)}


@blueprint.delete("/tasks/<task_id>")
async def cancel(task_id: str) -> tuple[Response, int]:
    record = await runner().cancel(task_id)
    return jsonify(record.to_dict()), 202


async def _read_body() -> bytes:
    """The whole body, as ``request.get_data(cache=False)`` reads it, within BODY_TIMEOUT.

    A small body has usually arrived with the request: then it is taken as it is, without
    the timer and the task that ``get_data`` sets up for every read (a few percent of a
    submission's CPU). A body still arriving is read under the timeout.
    """
    body = request.body
    arrived = getattr(body, "_complete", None)  # Quart's Body: set once the body is in
    if isinstance(arrived, asyncio.Event) and arrived.is_set():
        raw: bytes = await body
    else:
        try:
            async with asyncio.timeout(request.body_timeout):
                raw = await body
        except TimeoutError:
            raise RequestTimeout() from None
    body.clear()
    return raw


async def _json_object_body() -> dict[str, Any]:
    raw = await _read_body()
    mark_body_read()
    try:
        text = raw.decode("utf-8-sig")  # a leading byte order mark is tolerated
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 encoded JSON") from None
    if not text.strip():
        return {}
    try:
        body = codec.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            'send an object of keyword arguments such as {"seconds": 5}'
        ) from None
    except ValueError as exc:  # a number out of range or too long, nesting too deep
        raise BadRequest(f"the body's JSON cannot be read: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(
            f"the body must be a JSON object of keyword arguments, not {_json_type(body)}"
        )
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _submit_options(key: str | None) -> SubmitOptions:
    """The options in the query, with the key that the request's header carried."""
    query = query_args(
        SUBMIT_OPTIONS,
        "task arguments go in the JSON body, and the query takes only timeout, retries, "
        "delay, at and priority",
    )
    options: OptionFields = {"key": key}
    # An empty value means "not given": the task's own setting applies.
    if timeout := query.get("timeout"):
        options["timeout"] = _seconds_arg("timeout", timeout)
    if retries := query.get("retries"):
        options["retries"] = int_arg("retries", retries, default=0, low=0, high=MAX_RETRIES)
    if (delay := query.get("delay")) and (at := query.get("at")):
        raise BadRequest(f"give delay or at, not both (delay={delay!r}, at={at!r})")
    if delay := query.get("delay"):
        options["delay"] = delay_arg(delay)
    if at := query.get("at"):
        options["at"] = at_arg(at)
    if priority := query.get("priority"):
        options["priority"] = int_arg(
            "priority", priority, default=0, low=-MAX_PRIORITY, high=MAX_PRIORITY
        )
    return SubmitOptions(**options)


def query_args(allowed: set[str], hint: str) -> dict[str, str]:
    """The query parameters, refusing unknown ones and any given twice."""
    if not request.query_string:
        return {}  # most requests: skip parsing an empty query
    unknown = set(request.args) - allowed
    if unknown:
        raise BadRequest(f"unknown query parameter {sorted(unknown)[0]!r}; {hint}")
    for name, values in request.args.lists():
        if len(values) > 1:
            raise BadRequest(f"query parameter {name!r} is given {len(values)} times; give it once")
    return request.args.to_dict()


def _state_arg(raw: str | None) -> State | None:
    if not raw:
        return None
    try:
        return State(raw)
    except ValueError:
        valid = ", ".join(state.value for state in State)
        raise BadRequest(f"state must be one of {valid}, not {raw!r}") from None


def int_arg(name: str, raw: str | None, *, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be from {low} to {high}, not {value}")
    return value


def _seconds_arg(name: str, raw: str) -> float:
    value = decimal_number(raw)
    if value is None:
        raise BadRequest(f"{name} must be a number of seconds, not {raw!r}")
    if not 0 < value < float("inf"):  # also false for NaN
        raise BadRequest(f"{name} must be a finite number of seconds above 0, not {raw!r}")
    return value
