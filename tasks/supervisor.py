"""Graceful shutdown for worker processes of a multi-process Hypercorn server.

With ``workers = N`` Hypercorn's parent process sets a shared shutdown event on SIGTERM,
and as soon as the first worker has exited it sends SIGTERM to the others, which have no
handler for it: a worker still draining its tasks would die mid-task. In a worker process
this module handles SIGTERM instead: it asks the parent for a graceful shutdown of the
whole server (which sets the shared event) and lets this worker's own drain finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal

__all__ = ["forward_sigterm"]

log = logging.getLogger("tasks")


def forward_sigterm(loop: asyncio.AbstractEventLoop) -> bool:
    """In a worker process, make SIGTERM a graceful server shutdown. True if installed."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return False  # a single process: the server's own signal handling applies
    parent_pid = parent.pid

    def on_sigterm() -> None:
        if os.getppid() != parent_pid:
            log.warning("SIGTERM and the server's parent process is gone: exiting now")
            loop.remove_signal_handler(signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        log.info("SIGTERM in worker %d: shutting the server down gracefully", os.getpid())
        os.kill(parent_pid, signal.SIGTERM)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        return True
    return False
