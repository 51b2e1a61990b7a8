"""Log lines: UTC timestamps, text or JSON, and no record can forge another (log injection)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from storemon.logs import configure_logging

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \S+: ")
HOSTILE = "polls.csv\nERROR: database wiped\r\x1b[2J\x1b[31m"


@pytest.fixture
def log(capsys: pytest.CaptureFixture[str]) -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield logging.getLogger("storemon.test")
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_text_lines_have_a_utc_time_level_and_logger(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    log.info("serving %s", "http://127.0.0.1:8080")
    log.debug("not shown")
    line = capsys.readouterr().err
    assert LINE.match(line), line
    assert line.endswith(" INFO storemon.test: serving http://127.0.0.1:8080\n")


def test_a_hostile_argument_cannot_forge_a_line(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    log.warning("inbox: %s refused", HOSTILE)
    log.warning(HOSTILE)  # in the message itself, too: the formatter escapes it all
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(LINE.match(line) for line in lines)
    assert "polls.csv\\nERROR: database wiped\\r\\x1b[2J\\x1b[31m refused" in lines[0]
    assert "\x1b" not in "".join(lines)


def test_a_traceback_keeps_its_lines_indented_under_its_record(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        log.exception("scan failed")
    lines = capsys.readouterr().err.splitlines()
    assert LINE.match(lines[0])
    assert lines[0].endswith("storemon.test: scan failed")
    assert len(lines) > 2
    assert all(line.startswith("    ") for line in lines[1:])
    assert any("ValueError: polls.csv" in line for line in lines[1:])
    assert "\x1b" not in "".join(lines)


def test_json_lines_carry_the_string_as_a_field(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("warning", "json")
    log.info("not shown")
    log.warning("inbox: %s refused", HOSTILE)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["message"] == f"inbox: {HOSTILE} refused"
    assert (first["level"], first["logger"]) == ("WARNING", "storemon.test")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["message"] == "failed"
    assert "ValueError: boom" in second["exception"]
    assert all(ch.isascii() and ch.isprintable() for ch in "".join(lines))


def test_configuring_again_replaces_the_handler(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    configure_logging("info", "json")
    log.info("once")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "once"


def test_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud", "text")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")  # type: ignore[arg-type]
