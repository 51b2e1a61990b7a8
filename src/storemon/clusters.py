"""What ``--cluster`` and ``STOREMON_CLUSTER`` accept: ``local``, ``local:N`` or
``tcp://HOST:PORT``. Light on purpose (no dask): usage errors and settings check it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Final

from storemon.errors import ConfigError

__all__ = ["CLUSTER_HELP", "Cluster", "parse_cluster"]

CLUSTER_HELP: Final = (
    "write local (a cluster of worker processes on this machine, one per core), local:N "
    "(N workers) or tcp://HOST:PORT (the address of a running `dask scheduler`)"
)
_LOCAL: Final = re.compile(r"local(?::([1-9][0-9]{0,3}))?")
_TCP: Final = re.compile(r"tcp://[^\s/:]+:[0-9]{1,5}")


@dataclass(frozen=True)
class Cluster:
    """Where to compute: a local cluster of ``workers`` processes, or a scheduler's address."""

    text: str
    workers: int | None = None  # local only
    address: str | None = None  # tcp only


def parse_cluster(text: str) -> Cluster:
    """``local``, ``local:N`` or ``tcp://HOST:PORT``; ConfigError saying what to write."""
    value = text.strip()
    local = _LOCAL.fullmatch(value)
    if local is not None:
        workers = int(local.group(1)) if local.group(1) else max(1, os.cpu_count() or 1)
        return Cluster(value, workers=workers)
    if _TCP.fullmatch(value):
        return Cluster(value, address=value)
    raise ConfigError(f"cluster {text!r} is not understood: {CLUSTER_HELP}")
