"""The app as served in the durability tests, plus a slow task that must never repeat.

Served by real Hypercorn processes as ``tests.durable_app:create_app()``. ``mark`` appends
one line per execution to a file, so a test can count how often each task really ran.
"""

from __future__ import annotations

import time
from pathlib import Path

from quart import Quart

import quart_app
from quart_app.jobs import registry

if "mark" not in registry:

    @registry.task()
    def mark(path: str, seconds: float) -> None:
        """Record this execution, then block for ``seconds``. Not idempotent."""
        with Path(path).open("a") as log:
            log.write(f"{time.time()}\n")
        time.sleep(seconds)


def create_app() -> Quart:
    return quart_app.create_app()
