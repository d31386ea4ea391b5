"""The example app's tasks with the blueprint mounted under ``/jobs``, as an app of one's own
mounts it: ``tests.prefixed_app:create_app()``."""

from __future__ import annotations

from quart import Quart

from quart_app.config import load_config
from quart_app.flow import registry
from tasks import Tasks
from tasks.web import blueprint, register_error_handlers


def create_app() -> Quart:
    app = Quart(__name__, static_folder=None)
    app.config.update(load_config({}))
    Tasks(app, registry=registry)
    register_error_handlers(app)
    app.register_blueprint(blueprint, url_prefix="/jobs")
    return app
