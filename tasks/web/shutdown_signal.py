"""Noticing SIGTERM or SIGINT the moment it arrives, without taking it from the server.

Hypercorn answers a shutdown signal by closing its listening sockets and then waiting up to
``graceful_timeout`` for open connections to finish; only after that does it tell the app
(``app.shutdown_event``). An event stream never finishes by itself, so it would hold every
shutdown for the whole ``graceful_timeout`` and then be cut mid-response. Watching the signal
lets the streams end cleanly at once.

The watch wraps the handler the server installed, calls it unchanged, and is removed again
when the app stops. Where no Python handler is installed (the default action, ``SIG_IGN``, or
not the main thread, as in Hypercorn's worker processes), nothing is touched.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SignalWatch"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], Any]


class SignalWatch:
    """Calls ``callback`` on the event loop when SIGINT or SIGTERM arrives."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._installed: dict[int, tuple[_Handler, _Handler]] = {}

    def install(self) -> bool:
        """Wrap the current handlers; False if there was none to wrap."""
        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if callable(previous):
                watcher = self._wrap(loop, previous)
                signal.signal(signum, watcher)
                self._installed[signum] = (watcher, previous)
        return bool(self._installed)

    def uninstall(self) -> None:
        """Put the wrapped handlers back, unless someone has replaced ours since."""
        installed, self._installed = self._installed, {}
        for signum, (watcher, previous) in installed.items():
            if signal.getsignal(signum) is watcher:
                signal.signal(signum, previous)

    def _wrap(self, loop: asyncio.AbstractEventLoop, previous: _Handler) -> _Handler:
        def watcher(signum: int, frame: FrameType | None) -> Any:
            # A signal handler may run in the middle of any code: only schedule the callback.
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._callback)
            return previous(signum, frame)

        return watcher
