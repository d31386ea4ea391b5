"""Send a fixed number of POSTs as fast as a few connections allow, and count the answers.

``wrk`` runs for a time, not for a number of requests; a burst needs an exact count, every
request answered, none cut off when the clock stops. Each connection sends its next request
as soon as it has read the last answer (HTTP/1.1 keep-alive), and opens a new connection
when the server closes it, as gunicorn's sync worker does after every response. A request
that fails on the socket is counted as an error and not sent again: it may have been
accepted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT = 30.0  # seconds for one request


@dataclass
class Tally:
    remaining: int
    ok: int = 0  # 2xx answers
    refused: int = 0  # any other status
    errors: int = 0  # no answer: the connection failed


def post_many(url: str, count: int, connections: int, body: bytes = b"{}") -> dict[str, float]:
    """POST ``body`` to ``url`` ``count`` times over ``connections`` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    tally = Tally(remaining=count)
    began = time.perf_counter()
    asyncio.run(_send_all(host, port, request, tally, connections))
    seconds = time.perf_counter() - began
    return {
        "requests": count,
        "ok": tally.ok,
        "refused": tally.refused,
        "errors": tally.errors,
        "seconds": seconds,
        "ok_per_s": tally.ok / seconds if seconds else 0.0,
    }


async def _send_all(host: str, port: int, request: bytes, tally: Tally, connections: int) -> None:
    await asyncio.gather(*(_connection(host, port, request, tally) for _ in range(connections)))


async def _connection(host: str, port: int, request: bytes, tally: Tally) -> None:
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while tally.remaining > 0:
        tally.remaining -= 1
        try:
            async with asyncio.timeout(TIMEOUT):
                if streams is None:
                    streams = await asyncio.open_connection(host, port)
                reader, writer = streams
                writer.write(request)
                status, keep_alive = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            tally.errors += 1
            keep_alive = False
        else:
            if 200 <= status < 300:
                tally.ok += 1
            else:
                tally.refused += 1
        if not keep_alive and streams is not None:
            streams[1].close()
            streams = None
    if streams is not None:
        streams[1].close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" not in headers:
        raise OSError("response without Content-Length: the burst client cannot frame it")
    await reader.readexactly(int(headers["content-length"]))
    return status, headers.get("connection") != "close"
