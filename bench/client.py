"""A blocking HTTP client that times each request: to its headers, and to its last body byte.

``wrk`` reports only whole-request latency; the response benchmark needs both times, and
needs them one request at a time. Each request opens its own connection (counted in).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Seconds from starting to connect until the status line and headers / the whole body."""

    headers: float
    body: float
    status: int


def timed_request(
    port: int, method: str, path: str, body: Any = None, *, timeout: float = 120.0
) -> Timing:
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        start = time.perf_counter()
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        to_headers = time.perf_counter() - start
        response.read()
        to_body = time.perf_counter() - start
    finally:
        connection.close()
    return Timing(to_headers, to_body, response.status)


def probed_request(
    port: int, method: str, path: str, body: Any, *, probe_after: float, probe_path: str
) -> tuple[Timing, Timing]:
    """Send a request, then ``probe_after`` s later a ``GET probe_path`` to the same server.

    The probe's own time says how long the server kept it waiting: with a single worker that
    is still busy with the first request's work, the probe waits for that work to end.
    """
    outcome: list[Timing] = []
    main = threading.Thread(
        target=lambda: outcome.append(timed_request(port, method, path, body)), daemon=True
    )
    main.start()
    time.sleep(probe_after)
    probe = timed_request(port, "GET", probe_path)
    main.join()
    return outcome[0], probe
