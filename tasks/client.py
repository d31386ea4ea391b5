"""An async client for the HTTP API of a running tasks server.

Answers come back as :class:`TaskRecord` objects; error answers are raised as the
:class:`TasksError` subclass their ``code`` names (``UnknownTask``, ``InvalidArguments`` …),
and a server that cannot be reached raises :class:`ServerUnreachable`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Unpack
from urllib.parse import quote

import httpx

from .errors import (
    AccessRefused,
    AuthenticationRequired,
    CrossSiteRequest,
    ForbiddenHost,
    IdempotencyConflict,
    InvalidArguments,
    InvalidOptions,
    QueueFull,
    RemoteAccessRefused,
    ShuttingDown,
    TaskAlreadyFinished,
    TaskNotFound,
    TasksError,
    TooManyScheduled,
    Unavailable,
    UnknownQueue,
    UnknownTask,
)
from .idempotency import Submitted
from .options import OptionFields, SubmitOptions
from .records import State, TaskRecord

__all__ = ["ApiError", "ServerUnreachable", "TasksClient", "check_url"]

_ERRORS: dict[str, type[TasksError]] = {
    error.code: error
    for error in (
        UnknownTask,
        TaskNotFound,
        InvalidArguments,
        InvalidOptions,
        TaskAlreadyFinished,
        Unavailable,
        QueueFull,
        ShuttingDown,
        AuthenticationRequired,
        AccessRefused,
        RemoteAccessRefused,
        CrossSiteRequest,
        ForbiddenHost,
        IdempotencyConflict,
        TooManyScheduled,
        UnknownQueue,
    )
}


class ServerUnreachable(TasksError):
    """No answer from the server: refused, timed out, or not speaking HTTP."""

    code = "server_unreachable"
    status = 503


class ApiError(TasksError):
    """An error answer the client has no more specific class for."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def check_url(url: str) -> str:
    """Return ``url`` without a trailing slash; a ``ValueError`` says what is wrong with it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ValueError(f"{url!r} is not a server address; use http://host:port")
    return url.rstrip("/")


class TasksClient:
    """Talks to a tasks server: ``async with TasksClient("http://127.0.0.1:8000") as client``.

    ``token`` is the server's API token (``TASKS_API_TOKEN``), sent as a bearer token.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = check_url(url)
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=headers, transport=transport
        )

    async def __aenter__(self) -> TasksClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        options: SubmitOptions | None = None,
        **fields: Unpack[OptionFields],
    ) -> TaskRecord:
        """Start a task on the server, with ``options`` (or its fields as keywords: later with
        ``delay`` or ``at``, once with ``key``); its record as accepted, or, with a ``key``
        already used, the first one."""
        submitted = await self.accept(name, kwargs, options, **fields)
        return submitted.record

    async def accept(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        options: SubmitOptions | None = None,
        **fields: Unpack[OptionFields],
    ) -> Submitted:
        """:meth:`submit`, saying whether the server answered with a replay."""
        options = SubmitOptions.of(options, **fields)
        if options.connection is not None:
            raise InvalidOptions(
                "connection= cannot go over HTTP: submit in the transaction's own process, "
                "through the task's handle or a Producer"
            )
        headers = {"Idempotency-Key": options.key} if options.key is not None else {}
        response, body = await self._answer(
            "POST",
            f"/tasks/{_segment(name)}",
            json=kwargs or {},
            params=_query(options),
            headers=headers,
        )
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return Submitted(TaskRecord.from_dict(body), replayed=replayed)

    async def schedules(self) -> list[dict[str, Any]]:
        """The periodic tasks, each with its schedule, last and next run."""
        body = await self._call("GET", "/schedules")
        schedules: list[dict[str, Any]] = body["schedules"]
        return schedules

    async def get(self, task_id: str) -> TaskRecord:
        return TaskRecord.from_dict(await self._call("GET", f"/tasks/{_segment(task_id)}"))

    async def query(
        self, *, state: State | None = None, name: str | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Records newest first, optionally filtered by state and name."""
        params = {"limit": str(limit)}
        if state is not None:
            params["state"] = state.value
        if name:
            params["name"] = name
        body = await self._call("GET", "/tasks", params=params)
        return [TaskRecord.from_dict(item) for item in body["tasks"]]

    async def cancel(self, task_id: str) -> TaskRecord:
        return TaskRecord.from_dict(await self._call("DELETE", f"/tasks/{_segment(task_id)}"))

    async def names(self) -> list[dict[str, Any]]:
        """The registered tasks, each with its parameters."""
        body = await self._call("GET", "/task-types")
        names: list[dict[str, Any]] = body["task_types"]
        return names

    async def queues(self) -> list[dict[str, Any]]:
        """Every queue of the server's tasks: paused or not, its waiting and running tasks."""
        body = await self._call("GET", "/queues")
        queues: list[dict[str, Any]] = body["queues"]
        return queues

    async def pause(self, queue: str) -> dict[str, Any]:
        """Pause ``queue`` for every process sharing the server's store; the queue as now."""
        return await self._call("POST", f"/queues/{_segment(queue)}/pause")

    async def resume(self, queue: str) -> dict[str, Any]:
        """Resume ``queue``; the queue as now."""
        return await self._call("POST", f"/queues/{_segment(queue)}/resume")

    async def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        _, body = await self._answer(method, path, **options)
        return body

    async def _answer(
        self, method: str, path: str, **options: Any
    ) -> tuple[httpx.Response, dict[str, Any]]:
        try:
            response = await self._http.request(method, path, **options)
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"the tasks server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServerUnreachable(
                f"cannot reach the tasks server at {self.url} ({reason}); start it, "
                "or fix --url / QUART_TASKS_URL"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(
                f"{self.url} answered HTTP {response.status_code} without the tasks API's JSON; "
                "is --url the address of a tasks server?",
                code="not_a_tasks_server",
                status=response.status_code,
            )
        if response.is_success:
            return response, body
        raise _error_from(body, response.status_code, self.url)


def _error_from(body: dict[str, Any], status: int, url: str) -> TasksError:
    error = body.get("error")
    if not isinstance(error, dict):
        return ApiError(f"{url} answered HTTP {status}", code="http_error", status=status)
    code = str(error.get("code", "http_error"))
    message = str(error.get("message") or f"HTTP {status}")
    known = _ERRORS.get(code)
    if known is None:
        return ApiError(message, code=code, status=status)
    return known(message)


def _query(options: SubmitOptions) -> dict[str, str]:
    """The query parameters of ``POST /tasks/<name>`` that carry ``options`` (not the key)."""
    params: dict[str, str] = {}
    if options.timeout is not None:
        params["timeout"] = str(options.timeout)
    if options.retries is not None:
        params["retries"] = str(options.retries)
    if (delay := options.delay_seconds) is not None:
        params["delay"] = repr(float(delay))
    if options.at is not None:
        params["at"] = options.at.isoformat()
    if options.priority is not None:
        params["priority"] = str(options.priority)
    return params


def _segment(value: str) -> str:
    return quote(value, safe="")
