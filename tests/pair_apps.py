"""Two apps with different tasks, served on one store in tests/server/test_shared_store_server.py.

``tests.pair_apps:create_a()`` registers ``a_task``, ``tests.pair_apps:create_b()``
``b_task``: as two apps sharing a database, or two versions of one app during a deploy.
"""

from __future__ import annotations

import asyncio

from quart import Quart

from quart_app.config import load_config
from tasks import Registry, Tasks
from tasks.web import blueprint, register_error_handlers

alpha = Registry()
beta = Registry()


@alpha.task()
async def a_task(seconds: float = 0.0) -> float:
    """Wait ``seconds``, then return them."""
    await asyncio.sleep(seconds)
    return seconds


@beta.task()
async def b_task(n: int = 0) -> int:
    """Return ``n``."""
    return n


def _app(registry: Registry) -> Quart:
    app = Quart(__name__, static_folder=None)
    app.config.update(load_config(None))
    Tasks(app, registry=registry)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    return app


def create_a() -> Quart:
    return _app(alpha)


def create_b() -> Quart:
    return _app(beta)
