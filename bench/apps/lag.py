"""The product's app with an event-loop lag probe, for the event-loop health benchmark.

``hypercorn "bench.apps.lag:create_app()"``: the app from ``quart_app.create_app()`` plus a
coroutine that sleeps a fixed interval over and over and records how late it wakes up.
``GET /bench/lag`` returns the lateness percentiles since the last ``POST /bench/lag/reset``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from quart import Quart, Response, jsonify

from bench.stats import summarize
from quart_app import create_app as create_product_app

INTERVAL = 0.005  # seconds between two wake-ups of the probe


class LagProbe:
    """Sleeps ``interval`` again and again; each wake-up's lateness is one sample."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=200_000)

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, time.perf_counter() - due))


def create_app() -> Quart:
    app = create_product_app()
    probe = LagProbe()
    running: list[asyncio.Task[None]] = []

    @app.before_serving
    async def start_probe() -> None:
        running.append(asyncio.get_running_loop().create_task(probe.run()))

    @app.after_serving
    async def stop_probe() -> None:
        for task in running:
            task.cancel()

    @app.get("/bench/lag")
    async def lag() -> Response:
        return jsonify(summarize(list(probe.samples)))

    @app.post("/bench/lag/reset")
    async def reset() -> Response:
        probe.samples.clear()
        return jsonify(reset=True)

    return app
