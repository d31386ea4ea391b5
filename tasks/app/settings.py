"""Settings of the tasks extension, read from an app's ``TASKS_*`` configuration keys, which
``QUART_TASKS_*`` environment variables fill in."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..options import check_queue

__all__ = ["Settings", "config_key", "read_environment"]

PREFIX = "TASKS_"
#: what an environment variable adds to a configuration key, as Quart's ``from_prefixed_env``
ENV_PREFIX = "QUART_"
#: settings whose configuration key has no ``TASKS_`` prefix: field → key
UNPREFIXED = {
    "events_poll_interval": "EVENTS_POLL_INTERVAL",
    "events_keepalive_interval": "EVENTS_KEEPALIVE_INTERVAL",
}


def _words(value: Any, each: Callable[[str], str]) -> Any:
    """A list of words, each passed through ``each``; a comma- or space-separated string (as
    from the environment) is one too."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if isinstance(value, list | tuple):
        return tuple(each(str(word)) for word in value)
    return value


def config_key(field: str) -> str:
    """The configuration key of a field: ``max_running`` → ``TASKS_MAX_RUNNING``."""
    return UNPREFIXED.get(field) or f"{PREFIX}{field.upper()}"


class Settings(BaseModel):
    """Every ``TASKS_*`` key, its type, range and default (see the README for each one)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: store location: ``:memory:``, a SQLite file path, ``sqlite:///path`` or
    #: ``postgresql://user@host/db`` (the ``postgres`` extra); empty means
    #: ``tasks.sqlite3`` in the app's instance folder
    database: str = ""
    #: tasks running at once, coroutine and thread tasks together
    max_running: int = Field(8, ge=1, le=10_000)
    #: accepted tasks waiting for a slot; past this, submissions are refused (503)
    max_queued: int = Field(1000, ge=0, le=10_000_000)
    #: delayed tasks waiting for their time (rows in the store, not memory); past this,
    #: delayed submissions are refused (503)
    max_scheduled: int = Field(100_000, ge=0, le=100_000_000)
    #: worker threads for blocking tasks; 0 means ``max_running + 4``
    threads: int = Field(0, ge=0, le=10_000)
    #: seconds between two progress writes of one task
    progress_interval: float = Field(0.2, ge=0, le=60)
    #: seconds ``DELETE /tasks/<id>`` waits for a running task to stop
    cancel_wait: float = Field(1.0, ge=0, le=60)
    #: seconds a process holds its tasks without renewing; after that others may claim them
    lease: float = Field(30.0, ge=1, le=86_400)
    #: seconds between two rounds of lease renewal, remote-cancel checks and claiming
    poll_interval: float = Field(1.0, gt=0, le=60)
    #: whether this process claims tasks nobody runs (left by others, or stored to be run);
    #: false: it runs only what it accepted itself
    claim: bool = True
    #: whether a server runs tasks itself; false: it only accepts and stores them, and
    #: ``tasks worker`` processes run them (taken from the store, or from the broker)
    run_tasks: bool = True
    #: SQLite ``PRAGMA synchronous``: NORMAL survives a process crash, FULL also a power loss
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "NORMAL"
    #: PostgreSQL store: most pooled connections per process (one writes, the others read)
    postgres_pool_size: int = Field(4, ge=2, le=100)
    #: the host part of owner ids (empty: the host name); each machine sharing a PostgreSQL
    #: store needs its own, as an owner's process id is checked only on its own host
    host_id: str = Field("", pattern=r"^[^:\s]*$", max_length=100)
    #: the task broker: ``redis://host:6379/0`` (the ``redis`` extra) or
    #: ``amqp://user:password@host:5672/`` (the ``rabbitmq`` extra). Set, web processes store
    #: each task and hand it to the broker, and ``tasks worker`` processes run it. Empty:
    #: every task runs in the process that accepted it
    broker: str = ""
    #: the task queues this process runs (``email,default``); empty: every queue. Tasks of
    #: other queues that it accepts wait in the store for a process that runs them
    queues: tuple[str, ...] = ()
    #: the broker's stream (Redis) or queue and exchange (RabbitMQ) that carries the tasks
    broker_queue: str = Field("quart-tasks", pattern=r"^[A-Za-z0-9._:-]+$", max_length=200)
    #: the server the ``tasks`` command line talks to over HTTP (``--url``); empty: the
    #: commands work in-process on the store
    url: str = ""
    #: whether the blueprint serves ``GET /metrics`` and the runner keeps the metrics
    metrics: bool = True
    #: whether ``/metrics`` answers without the API token (for scrapers that cannot send one)
    metrics_public: bool = False
    #: the API token; when set, every route but ``GET /healthz`` requires it. Empty: the API
    #: answers this machine only (loopback peers, no proxy headers)
    api_token: str = Field("", repr=False)
    #: host names the server answers to (``Host`` header, any port); ``.example.com``
    #: matches example.com and its subdomains, ``*`` matches every name
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    #: event streams (``/events``, ``/tasks/<id>/events``) one process serves at once; past
    #: this, a new stream is answered 503 with ``Retry-After``
    max_streams: int = Field(200, ge=1, le=100_000)
    #: how the ``tasks`` log's own stderr handler writes, when the app has not configured
    #: logging: ``text`` lines, or ``json``, one object a line with ``task_id`` and
    #: ``task_name`` (every log record carries those two, for any formatter)
    log_format: Literal["text", "json"] = "text"
    #: seconds a finished record is kept; 0 keeps every record
    retention: float = Field(7 * 86_400, ge=0)
    #: (``EVENTS_POLL_INTERVAL``) seconds between two checks of the event streams for changes
    #: written by other processes
    events_poll_interval: float = 0.5
    #: (``EVENTS_KEEPALIVE_INTERVAL``) seconds of silence before a stream's keep-alive comment
    events_keepalive_interval: float = 15.0

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        return _words(value, lambda host: host.strip().lower())

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        return _words(value, check_queue)

    @field_validator(*UNPREFIXED, mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            key = config_key(str(info.field_name))
            raise ValueError(f"{key} must be a number of seconds above 0, not {value!r}")
        return value

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Read the ``TASKS_*`` keys (and ``EVENTS_*``); a ``ValueError`` names any key that
        is unknown or out of range."""
        values = {
            key.removeprefix(PREFIX).lower(): value
            for key, value in config.items()
            if key.startswith(PREFIX)
        }
        prefixed = [field for field in cls.model_fields if field not in UNPREFIXED]
        unknown = sorted(f"{PREFIX}{key.upper()}" for key in values if key not in prefixed)
        if unknown:
            known = ", ".join(config_key(field) for field in prefixed)
            raise ValueError(f"unknown setting {', '.join(unknown)}; known settings: {known}")
        values.update({field: config[key] for field, key in UNPREFIXED.items() if key in config})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(_describe(error) for error in exc.errors())
            raise ValueError(f"invalid tasks configuration: {problems}") from None

    @model_validator(mode="after")
    def _poll_within_lease(self) -> Settings:
        if self.poll_interval >= self.lease / 2:
            raise ValueError(
                f"TASKS_POLL_INTERVAL ({self.poll_interval}) must be under half of "
                f"TASKS_LEASE ({self.lease}), or leases lapse between renewals"
            )
        return self

    @property
    def thread_count(self) -> int:
        """The thread pool's size for ``max_running`` tasks at once (see :meth:`threads_for`)."""
        return self.threads_for(self.max_running)

    def threads_for(self, max_running: int) -> int:
        """The thread pool's size for a process running ``max_running`` tasks at once:
        ``threads``, or ``max_running + 4`` when that is 0."""
        return self.threads or max_running + 4


def read_environment(config: MutableMapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Fill ``config``'s tasks keys from ``QUART_TASKS_*`` (and ``QUART_EVENTS_*``) environment
    variables, each parsed as JSON where it parses (``4`` is a number), else kept as text, as
    Quart's ``from_prefixed_env`` does; a text setting (a token, a URL) is always kept as
    text. A key the configuration already holds keeps its value.

    Returns the variables left unused because the configuration sets their key to another
    value; raises ``ValueError`` for a ``QUART_TASKS_*`` one that names no setting."""
    fields = {config_key(name): field for name, field in Settings.model_fields.items()}
    ignored: list[str] = []
    for variable in sorted(environ):
        key = variable.removeprefix(ENV_PREFIX)
        if not variable.startswith(ENV_PREFIX) or not key.startswith((PREFIX, "EVENTS_")):
            continue
        field = fields.get(key)
        if field is None:
            if key.startswith("EVENTS_"):
                continue  # not ours to judge: an app may have EVENTS_ keys of its own
            names = ", ".join(sorted(ENV_PREFIX + name for name in fields))
            raise ValueError(f"unknown setting {variable} in the environment; known: {names}")
        value: Any = environ[variable]
        if field.annotation is not str:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if key not in config:
            config[key] = value
        elif config[key] != value:
            ignored.append(variable)
    return ignored


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    key = config_key(str(error["loc"][0]))
    if message.startswith(key):  # the message names the key itself
        return message
    return f"{key}: {message} (got {error['input']!r})"
