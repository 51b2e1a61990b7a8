"""Who holds a report job: owner ids, and telling a dead owner on this host.

Several servers may share one PostgreSQL database. Each report job service has an
owner id, ``<host>/<pid>/<random>``; it holds the jobs it queued or claimed by a lease
it renews (:meth:`storemon.store.base.JobStore.renew_leases`). Another server takes a
job over only once its lease has expired — or, at start-up, at once when its owner
ran on this host and that process is gone (a restart after ``kill -9`` need not wait
out the lease). The probe is only a shortcut: were a pid reused, the job would just
wait for its lease to expire, and only the current holder can finish a job, so a
wrong guess could cost a second computation, never a second result.
"""

from __future__ import annotations

import os
import secrets
import socket

from storemon.pids import pid_alive

__all__ = ["dead_here", "new_owner_id"]


def new_owner_id() -> str:
    """A new owner id for this process: ``<host>/<pid>/<8 hex digits>``."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def dead_here(owner: str) -> bool:
    """Whether ``owner`` ran on this host in a process that no longer exists."""
    parts = owner.rsplit("/", 2)
    if len(parts) != 3:
        return False
    host, pid, _ = parts
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not pid_alive(int(pid))
