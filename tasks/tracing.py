"""Tracing with OpenTelemetry, when the app has a tracer provider (``opentelemetry-api``).

With a provider set (by ``opentelemetry-instrument`` from the ``OTEL_*`` variables, or by the
app's own SDK setup), each submission makes a producer span ``submit <name>`` and each
attempt a consumer span ``run <name>`` (attributes ``task.id``, ``task.name``,
``task.attempt``, ``task.queue``), each step a span ``step <name>`` inside it. The W3C trace
context of the submission travels on the record (``TaskRecord.trace``), so an attempt run by
a worker on another machine, or after a restart, continues the trace that submitted it.
A failed attempt sets its span's status to error, with the exception.

Without the package, or without a provider (the API's default proxy), every function here
returns at once and nothing is created. Whether there is a provider is looked up again by
:func:`refresh` (a runner calls it as it starts, then at every upkeep round), so that a
submission or an attempt pays one read of a module variable, not the API's lookup (which
reads the environment).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .records import TaskRecord

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - the extra is not installed
    trace = None  # type: ignore[assignment]

__all__ = [
    "attempt_span",
    "continued",
    "current",
    "end_attempt",
    "end_producer",
    "failed",
    "produced",
    "refresh",
    "start_producer",
    "step_span",
]

#: the instrumentation scope of the spans
SCOPE = "quart-tracked-tasks"

#: the provider last seen, and its tracer (None: no provider); None until the first look
_tracer_of: tuple[object, Any] | None = None


def refresh() -> None:
    """Look up the configured tracer provider again."""
    global _tracer_of
    if trace is None:
        _tracer_of = (None, None)
        return
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        _tracer_of = (provider, None)
    elif _tracer_of is None or _tracer_of[0] is not provider:
        _tracer_of = (provider, provider.get_tracer(SCOPE))


def _tracer() -> Any:
    """The tracer of the provider, as last looked up; None without a provider."""
    if _tracer_of is None:
        refresh()
        assert _tracer_of is not None
    return _tracer_of[1]


@contextmanager
def continued(headers: Mapping[str, str] | Any) -> Iterator[None]:
    """Within it, the current trace is the one of ``headers`` (``traceparent``), unless a
    span is already current (an instrumented server made one for the request)."""
    if _tracer() is None or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with _attached(propagate.extract(headers)):
        yield


def start_producer(name: str) -> Any:
    """Start the span of a submission of task ``name``, current until :func:`end_producer`;
    None without a provider."""
    tracer = _tracer()
    if tracer is None:
        return None
    span = tracer.start_span(f"submit {name}", kind=SpanKind.PRODUCER)
    span.set_attribute("task.name", name)
    return span, otel_context.attach(trace.set_span_in_context(span))


def produced(producer: Any, record: TaskRecord) -> TaskRecord:
    """``record`` carrying the trace context of its submission's span."""
    span, _ = producer
    span.set_attribute("task.id", record.id)
    span.set_attribute("task.queue", record.queue)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return record.replace(trace=carrier)


def end_producer(producer: Any, error: BaseException | None = None) -> None:
    span, token = producer
    otel_context.detach(token)
    if error is not None:
        failed(span, error)
    span.end()


def attempt_span(record: TaskRecord) -> Span | None:
    """Start the span of the attempt ``record`` (a start), in the trace of its submission;
    None without a provider."""
    tracer = _tracer()
    if tracer is None:
        return None
    parent = propagate.extract(record.trace) if record.trace else None
    span: Span = tracer.start_span(
        f"run {record.name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "task.id": record.id,
            "task.name": record.name,
            "task.attempt": record.attempts,
            "task.queue": record.queue,
        },
    )
    return span


@contextmanager
def current(span: Span | None) -> Iterator[None]:
    """Make ``span`` the current one within (nothing if None)."""
    if span is None:
        yield
        return
    with _attached(trace.set_span_in_context(span)):
        yield


@contextmanager
def _attached(context: Any) -> Iterator[None]:
    """``context`` is the current OpenTelemetry context within."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def failed(span: Span, error: BaseException | str) -> None:
    """Mark ``span`` failed with ``error`` (an exception, or a description)."""
    if isinstance(error, BaseException):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    else:
        span.set_status(Status(StatusCode.ERROR, error))


def end_attempt(span: Span, record: TaskRecord | None) -> None:
    """End an attempt's span with the state its record ended in (``queued``: a retry)."""
    if record is not None:
        span.set_attribute("task.state", record.state.value)
    span.end()


@contextmanager
def step_span(name: str) -> Iterator[None]:
    """A span ``step <name>`` around a step's run, inside the attempt's (none without a
    provider)."""
    tracer = _tracer()
    if tracer is None:
        yield
        return
    # the span records an exception that escapes, and sets its status to error
    with tracer.start_as_current_span(f"step {name}", attributes={"task.step": name}):
        yield
