"""Logging set-up: lines a person can read and a machine can parse.

``configure_logging(level, "text")`` writes one line per record to stderr::

    2026-12-02T03:04:05.678Z INFO storemon.serve: serving http://127.0.0.1:8080 ...

``configure_logging(level, "json")`` writes one JSON object per line, for log
shippers: ``{"time", "level", "logger", "message"}`` and ``"exception"`` when
there is one.

Log injection: a message may carry data (a file name, a request path) holding a
newline or an ESC sequence. The text formatter escapes control characters in the
whole formatted message (:func:`storemon.display.printable`), so no record can
forge another line; a traceback keeps its line breaks but every line of it after
the first is indented, so it cannot pass for a record either. JSON escapes by
construction. The escaping lives in the formatters, so no call site needs to.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final, Literal, TextIO

from storemon.display import printable

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "remove_logging",
]

LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("text", "json")
LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")

#: The handler configure_logging installs (replaced, not added, when called again).
_HANDLER_NAME: Final = "storemon"


def _utc_timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    parts = [part for part in (record.exc_text, record.stack_info) if part]
    return "\n".join(parts) if parts else None


class TextFormatter(logging.Formatter):
    """``<UTC time> <LEVEL> <logger>: <message>``, the message escaped to one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = printable(record.getMessage())
        line = f"{_utc_timestamp(record)} {record.levelname} {record.name}: {message}"
        details = _exception_text(self, record)
        if details is None:
            return line
        indented = "\n".join(f"    {printable(part)}" for part in details.splitlines())
        return f"{line}\n{indented}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc_timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        details = _exception_text(self, record)
        if details is not None:
            entry["exception"] = details
        return json.dumps(entry)  # ASCII: C1 controls and U+2028 escaped too


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    """Send every logger's records (uvicorn's included) to stderr in ``fmt``.

    ``level`` is one of debug, info, warning, error (any case). Calling it again
    replaces the handler it installed, so it never doubles lines.
    """
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(LOG_FORMATS)}")
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    remove_logging()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


def remove_logging(level: int = logging.WARNING) -> None:
    """Take out the handler :func:`configure_logging` installed; the root logger gets
    ``level`` again (for a caller that runs commands in-process, like the tests)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.setLevel(level)
