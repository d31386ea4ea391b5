"""Who holds a task: owner ids, and telling whether an owner's process has died.

An owner id is ``host:pid:token``. Each runner renews a lease on the tasks it holds; a task
whose lease has run out, or whose owner was a process on this host that no longer exists,
may be claimed by another runner. The liveness check makes recovery after ``kill -9``
immediate on one machine; the lease covers owners on other hosts.

The host part is the machine's host name unless set (``TASKS_HOST_ID``): machines that share
a PostgreSQL store must have distinct ones, and processes of one machine the same one.
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["host_of", "new_owner_id", "owner_is_dead"]

_HOST = socket.gethostname()


def new_owner_id(host: str = "") -> str:
    """A new owner id on ``host`` (empty: this machine's host name)."""
    return f"{host or _HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def host_of(owner: str) -> str:
    return owner.partition(":")[0]


def owner_is_dead(owner: str, *, host: str = "") -> bool:
    """True only when ``owner`` is known to be gone: a process on this host that has exited.

    ``host`` is this process's host part (empty: this machine's host name).
    """
    owner_host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if owner_host != (host or _HOST) or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False
