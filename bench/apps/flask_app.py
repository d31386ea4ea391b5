"""What a Flask user would try to run work "after the response", served by gunicorn.

``gunicorn --workers 1 bench.apps.flask_app:app``. Every endpoint takes ``{"seconds": s}``
and does ``s`` seconds of blocking work in its own way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, after_this_request, g, jsonify, request

app = Flask(__name__)


def _seconds() -> float:
    body = request.get_json(force=True, silent=True) or {}
    return float(body.get("seconds", 0))


def _nothing() -> None:
    return None


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.post("/plain")
def plain() -> Response:
    request.get_json(force=True, silent=True)
    return jsonify(accepted=True)


@app.post("/thread-noop")
def thread_noop() -> tuple[Response, int]:
    """Start an untracked thread doing nothing: the cheapest "background" Flask offers."""
    request.get_json(force=True, silent=True)
    threading.Thread(target=_nothing, daemon=True).start()
    return jsonify(accepted=True), 202


@app.post("/thread")
def thread() -> tuple[Response, int]:
    threading.Thread(target=time.sleep, args=(_seconds(),), daemon=True).start()
    return jsonify(accepted=True), 202


@app.post("/after-this-request")
def after_this() -> tuple[Response, int]:
    seconds = _seconds()

    @after_this_request
    def work(response: Any) -> Any:
        time.sleep(seconds)
        return response

    return jsonify(accepted=True), 202


@app.post("/stream")
def stream() -> Response:
    seconds = _seconds()

    def generate() -> Iterator[bytes]:
        yield b'{"accepted": true'
        time.sleep(seconds)
        yield b"}\n"

    return Response(generate(), status=202, mimetype="application/json")


# Hooks on a blueprint apply to its own routes only.
after = Blueprint("after", __name__)


@after.post("/after-request")
def after_request_view() -> tuple[Response, int]:
    g.seconds = _seconds()
    return jsonify(accepted=True), 202


@after.after_request
def after_request_work(response: Any) -> Any:
    time.sleep(g.seconds)
    return response


teardown = Blueprint("teardown", __name__)


@teardown.post("/teardown")
def teardown_view() -> tuple[Response, int]:
    g.seconds = _seconds()
    return jsonify(accepted=True), 202


@teardown.teardown_request
def teardown_work(exc: BaseException | None) -> None:
    time.sleep(g.get("seconds", 0))


app.register_blueprint(after)
app.register_blueprint(teardown)
