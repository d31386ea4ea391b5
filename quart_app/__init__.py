"""The example application: ``create_app()`` serves tracked background tasks over HTTP."""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart

from tasks import Tasks
from tasks.cli import tasks_cli
from tasks.web import blueprint, register_error_handlers

from . import views
from .config import load_config
from .flow import registry  # every example task: jobs.py, the workflows, the limited ones

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None) -> Quart:
    """Build the app: defaults, then ``QUART_*`` environment variables, then ``config``."""
    app = Quart(__name__, static_folder=None)  # the blueprint serves the dashboard's files
    app.config.update(load_config(config))
    _log_tasks_to_stderr(app.config["LOG_LEVEL"])
    Tasks(app, registry=registry)
    register_error_handlers(app)  # this app is an API as a whole: every error is JSON
    app.register_blueprint(blueprint)  # the API, the event streams and the dashboard at /
    app.register_blueprint(views.blueprint)
    app.cli.add_command(tasks_cli)
    return app


def _log_tasks_to_stderr(level: str) -> None:
    """Show the task log (failures with tracebacks, drains, recoveries) next to Hypercorn's."""
    logger = logging.getLogger("tasks")
    try:
        logger.setLevel(level)
    except (TypeError, ValueError):
        raise ValueError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}"
        ) from None
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
        )
        logger.addHandler(handler)
