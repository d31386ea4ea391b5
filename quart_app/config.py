"""Configuration defaults. Every key can be set from the environment with a ``QUART_`` prefix.

Values from the environment are parsed as JSON where they parse (``QUART_TASKS_MAX_RUNNING=4``
is the number 4), else kept as strings. The README lists every key.
"""

from __future__ import annotations

from typing import Any

from tasks.web.events import DEFAULTS as EVENTS_DEFAULTS

DEFAULTS: dict[str, Any] = {
    # Where task records live: a SQLite file path, "sqlite:///path", ":memory:", or
    # "postgresql://user@host/db" (with the postgres extra).
    # Empty: tasks.sqlite3 in the app's instance folder.
    "TASKS_DATABASE": "",
    # Tasks running at once (coroutine and thread tasks together).
    "TASKS_MAX_RUNNING": 8,
    # Accepted tasks waiting for a slot; more are refused with 503 and Retry-After.
    "TASKS_MAX_QUEUED": 1000,
    # Largest accepted request body, in bytes; larger bodies get 413.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Seconds running tasks get to finish once shutdown begins. Must stay below Hypercorn's
    # shutdown_timeout (hypercorn.toml), which bounds the whole lifespan shutdown.
    "BACKGROUND_TASK_SHUTDOWN_TIMEOUT": 20,
    # Where the example `export` task writes its CSV files. Empty: exports/ in the instance
    # folder. The folder belongs to one store: files there whose record it lacks are deleted.
    "EXPORTS_FOLDER": "",
    # Level of the "tasks" log on stderr: DEBUG, INFO, WARNING, ERROR.
    "LOG_LEVEL": "INFO",
    # Error responses are JSON built by the app, never Quart's HTML pages.
    "PROPAGATE_EXCEPTIONS": False,
    # Event streams: seconds between two checks for changes written by other processes
    # (EVENTS_POLL_INTERVAL, 0.5), and of silence before a keep-alive comment
    # (EVENTS_KEEPALIVE_INTERVAL, 15).
    **EVENTS_DEFAULTS,
}


def load_config(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then ``QUART_*`` environment variables, then explicit overrides."""
    from quart import Config

    config = Config(".", DEFAULTS)
    config.from_prefixed_env()
    config.update(overrides or {})
    return dict(config)
