"""Bare Quart endpoints, the baseline a Quart user would write without any task tracking.

Served by Hypercorn: ``hypercorn "bench.apps.quart_raw:create_app()"``.
"""

from __future__ import annotations

import time

from quart import Quart, Response, jsonify, request


async def _nothing() -> None:
    return None


def create_app() -> Quart:
    app = Quart(__name__)

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/plain")
    async def plain() -> Response:
        """Parse the JSON body and answer: the cost of Quart itself."""
        await request.get_json(force=True, silent=True)
        return jsonify(accepted=True)

    @app.post("/background")
    async def background() -> tuple[Response, int]:
        """Schedule a no-op coroutine with ``add_background_task``: nothing tracks it."""
        await request.get_json(force=True, silent=True)
        app.add_background_task(_nothing)
        return jsonify(accepted=True), 202

    @app.post("/sleep")
    async def sleep() -> tuple[Response, int]:
        """Block a pool thread for ``seconds`` after the response (a plain function runs there)."""
        body = await request.get_json(force=True, silent=True) or {}
        app.add_background_task(time.sleep, float(body.get("seconds", 0)))
        return jsonify(accepted=True), 202

    return app
