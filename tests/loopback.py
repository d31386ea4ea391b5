"""HTTP to the tests' servers on loopback, with clients that load no CA certificates.

httpx builds a TLS context for every client it makes, reading the CA bundle: about 20 ms of
CPU each time. ``httpx.get`` makes a client per call, and the tests poll their servers many
times a second, so that CPU was taken from the very servers under test on a busy machine.
Every server here speaks plain HTTP, and the context below trusts no certificate at all.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA loaded: TLS would fail, never used


def client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` for loopback servers."""
    return httpx.Client(verify=PLAIN_HTTP, **options)


def async_client(**options: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**options)`` for loopback servers."""
    return httpx.AsyncClient(verify=PLAIN_HTTP, **options)


def request(method: str, url: str, **options: Any) -> httpx.Response:
    """One request on a connection of its own, as ``httpx.request`` makes it."""
    with client() as http:
        return http.request(method, url, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)


def delete(url: str, **options: Any) -> httpx.Response:
    return request("DELETE", url, **options)


@contextmanager
def stream(method: str, url: str, **options: Any) -> Iterator[httpx.Response]:
    """A streamed response on a connection of its own, as ``httpx.stream`` gives it."""
    with client() as http, http.stream(method, url, **options) as response:
        yield response
