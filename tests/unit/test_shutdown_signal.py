"""SignalWatch: noticing SIGTERM without taking it from the handler already installed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from tasks.web.shutdown_signal import SignalWatch


@pytest.fixture
def restore_sigterm() -> Iterator[None]:
    original = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.usefixtures("restore_sigterm")
async def test_the_watch_calls_back_and_still_runs_the_servers_handler() -> None:
    handled: list[int] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        handled.append(signum)

    signal.signal(signal.SIGTERM, server_handler)
    noticed = asyncio.Event()
    watch = SignalWatch(noticed.set)
    assert watch.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(5):
            await noticed.wait()
        assert handled == [signal.SIGTERM]
    finally:
        watch.uninstall()
    assert signal.getsignal(signal.SIGTERM) is server_handler


@pytest.mark.usefixtures("restore_sigterm")
async def test_the_default_action_is_left_alone() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    watch = SignalWatch(lambda: None)
    watch.install()
    try:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        watch.uninstall()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.usefixtures("restore_sigterm")
async def test_a_handler_installed_later_is_not_undone() -> None:
    def server_handler(signum: int, frame: FrameType | None) -> None:
        """Stands in for the server's handler."""

    def later_handler(signum: int, frame: FrameType | None) -> None:
        """Installed by someone else after the watch."""

    signal.signal(signal.SIGTERM, server_handler)
    watch = SignalWatch(lambda: None)
    watch.install()
    signal.signal(signal.SIGTERM, later_handler)
    watch.uninstall()
    assert signal.getsignal(signal.SIGTERM) is later_handler
