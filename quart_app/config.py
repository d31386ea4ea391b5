"""Configuration defaults. Every key can be set from the environment with a ``QUART_`` prefix.

Values from the environment are parsed as JSON where they parse (``QUART_LOG_LEVEL=DEBUG``
stays text, ``QUART_BACKGROUND_TASK_SHUTDOWN_TIMEOUT=10`` is the number 10), else kept as
strings. The tasks settings (``TASKS_*``, ``EVENTS_*``) are not here: ``Tasks(app)`` reads
their ``QUART_TASKS_*`` variables itself, with their defaults and types from
``tasks.Settings``. The documentation lists every key.
"""

from __future__ import annotations

from typing import Any

#: keys whose variables ``Tasks(app)`` reads itself, below the explicit overrides
TASKS_KEYS = ("TASKS_", "EVENTS_")

DEFAULTS: dict[str, Any] = {
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
}


def load_config(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then ``QUART_*`` environment variables, then explicit overrides; the tasks
    settings' variables are left to ``Tasks(app)``, which reads them for the keys the
    overrides do not set."""
    from quart import Config

    config = Config(".", DEFAULTS)
    config.from_prefixed_env()
    for key in [key for key in config if key.startswith(TASKS_KEYS)]:
        del config[key]
    config.update(overrides or {})
    return dict(config)
