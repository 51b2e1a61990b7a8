"""storemon: store uptime and downtime within business hours."""

from __future__ import annotations

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
