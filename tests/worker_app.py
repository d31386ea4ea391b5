"""The app as web and worker processes serve it in the broker tests.

``tests.worker_app:create_app()``: the example app, the durability tests' ``mark`` (one
line per execution, never run again after an interruption), and ``whoami``, whose result
is the process id of the process that ran it.
"""

from __future__ import annotations

import os
import time

from quart import Quart

from quart_app.jobs import registry
from tests import durable_app

if "whoami" not in registry:

    @registry.task(idempotent=True)
    def whoami(seconds: float = 0.0) -> int:
        """Block for ``seconds``, then return the process id of the process that ran it."""
        time.sleep(seconds)
        return os.getpid()


def create_app() -> Quart:
    return durable_app.create_app()
