"""storemon: store uptime and downtime within business hours.

The public names below are loaded on first use (PEP 562), so ``import storemon``
(and with it every ``storemon`` command) costs nothing until a name is asked for:
``storemon --help`` loads no pyarrow, numpy or pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from storemon.config import Settings, get_settings
    from storemon.engine import Report, compute_report, report_csv
    from storemon.errors import (
        ConfigError,
        IngestError,
        InputError,
        InvalidRequest,
        MissingColumnError,
        ReportNotFound,
        StoreError,
        StoremonError,
    )

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "IngestError",
    "InputError",
    "InvalidRequest",
    "MissingColumnError",
    "Report",
    "ReportNotFound",
    "Settings",
    "StoreError",
    "StoremonError",
    "__version__",
    "compute_report",
    "get_settings",
    "report_csv",
]

#: Where each lazily loaded public name lives.
_HOMES: Final = {
    "ConfigError": "storemon.errors",
    "IngestError": "storemon.errors",
    "InputError": "storemon.errors",
    "InvalidRequest": "storemon.errors",
    "MissingColumnError": "storemon.errors",
    "Report": "storemon.engine",
    "ReportNotFound": "storemon.errors",
    "Settings": "storemon.config",
    "StoreError": "storemon.errors",
    "StoremonError": "storemon.errors",
    "compute_report": "storemon.engine",
    "get_settings": "storemon.config",
    "report_csv": "storemon.engine",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'storemon' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
