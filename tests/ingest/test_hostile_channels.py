"""Each hostile input through each way in: `storemon ingest`, POST /ingest/status and the
inbox, on both databases. Same outcome everywhere: the status (exit code, HTTP status,
inbox outcome), the message, the stored rejects, and every valid row landed; no library
error reaches anyone (issue 15, "every library error translated")."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from api_helpers import TestClient, make_settings
from cli_helpers import run

from storemon.api import create_app
from storemon.ingest.inbox import scan_inbox
from storemon.store import Store

LIMIT = 4 << 20  # STOREMON_MAX_DECOMPRESSED_BYTES in these tests
HEADER = b"store_id,status,timestamp_utc\n"
T0 = b"2023-01-22 12:09:39.388884 UTC"


def row(store: str, status: str = "active") -> bytes:
    return f"{store},{status},".encode() + T0 + b"\n"


@dataclass(frozen=True)
class Case:
    """An input and what every channel must make of it."""

    data: bytes
    loaded: list[str] = field(default_factory=list)  # store ids stored, sorted
    rejects: list[tuple[int, str, str | None]] = field(
        default_factory=list
    )  # line, reason part, id
    warning: str | None = None  # a part of the one warning expected
    refused: tuple[int, str] | None = None  # (HTTP status, a part of the message)


CASES = {
    "gzip bomb": Case(
        gzip.compress(HEADER + b"\n" * (32 << 20) + row("a"), compresslevel=9),
        refused=(413, "4,194,304 bytes of text (unpacked)"),
    ),
    "blank lines": Case(HEADER + row("a") + b"\n" * (2 << 20) + row("b"), loaded=["a", "b"]),
    "long row": Case(
        HEADER + row("a") + b"x" * (2 << 20) + b",active," + T0 + b"\n" + row("b"),
        loaded=["a", "b"],
        rejects=[(3, "bytes long; a row may be at most 1,048,576 bytes", None)],
    ),
    "NUL byte": Case(
        HEADER + row("a") + b"b\x00,active," + T0 + b"\n" + row("c"),
        loaded=["a", "c"],
        rejects=[(3, "contains NUL bytes", None)],
    ),
    "BOM mid-file": Case(HEADER + row("a") + b"\xef\xbb\xbf" + row("b"), ["a", "b"]),
    "stray quote": Case(
        HEADER + row("a") + b'b,"active,' + T0 + b"\n" + b"".join(row(f"c{i}") for i in range(200)),
        loaded=sorted(["a"] + [f"c{i}" for i in range(200)]),
        rejects=[(3, "a quote opened on line 3 is not closed", None)],
    ),
    "U+FFFD and a bad byte": Case(
        HEADER + "caf\ufffd,active,".encode() + T0 + b"\n" + b"caf\xe9,nope," + T0 + b"\n",
        loaded=["caf\ufffd"],
        rejects=[(3, "not UTF-8 text", None)],
    ),
    "gzip with trailing garbage": Case(
        gzip.compress(HEADER + row("a") + row("b", "nope")) + b"\x00" * 7 + b"junk",
        loaded=["a"],
        rejects=[(3, "unknown status 'nope'", "b")],
        warning="ignored 11 bytes after the end of the gzip data",
    ),
    "every row rejected": Case(
        HEADER + row("a", "nope") + row("b", "x"), refused=(422, "nothing loaded")
    ),
    "semicolons": Case((HEADER + row("a")).replace(b",", b";"), ["a"], warning="semicolon"),
    "ids in scientific notation": Case(
        HEADER + row("8.42E+18") + row("8.43E+18"), ["8.42E+18", "8.43E+18"], warning="scientific"
    ),
    "binary data": Case(bytes(range(256)) * 40, refused=(400, "is not a text file")),
    "gzip inside gzip": Case(
        gzip.compress(gzip.compress(HEADER + row("a"))), refused=(400, "twice")
    ),
}


@dataclass(frozen=True)
class Outcome:
    refused: tuple[int, str] | None  # (status, message) when refused
    summary: dict[str, object] | None  # the status file's summary JSON when ingested


def through_cli(
    store: Store, case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Outcome:
    path = tmp_path / "polls.csv"
    path.write_bytes(case.data)
    code, out, err = run(["ingest", "--db", store.url, "--status", str(path), "--json"], capsys)
    assert "Traceback" not in err
    if code:
        assert code == 1, err
        return Outcome((code, err), None)
    return Outcome(None, json.loads(out)["status"])


def through_api(store: Store, case: Case) -> Outcome:
    settings = make_settings(db=store.url, max_decompressed_bytes=LIMIT)
    with TestClient(create_app(settings, store)) as client:
        response = client.post(
            "/ingest/status", content=case.data, headers={"Content-Type": "text/csv"}
        )
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error", "code", "details"}
        return Outcome((response.status_code, body["error"]), None)
    return Outcome(None, body["status"])


def through_inbox(store: Store, case: Case, tmp_path: Path) -> Outcome:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "polls.csv").write_bytes(case.data)
    (result,) = scan_inbox(store, inbox, max_decompressed_bytes=LIMIT)
    if result.outcome == "failed":
        reason = (inbox / "failed" / "polls.csv.reason.txt").read_text()
        assert reason.strip() == result.error
        return Outcome((0, reason), None)
    assert result.outcome == "ingested", result
    assert result.summary is not None
    return Outcome(None, result.summary.to_json()["status"])  # type: ignore[arg-type]


@pytest.mark.parametrize("channel", ["cli", "api", "inbox"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_through_every_channel(
    store: Store,
    name: str,
    channel: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[name]
    monkeypatch.setenv("STOREMON_MAX_DECOMPRESSED_BYTES", str(LIMIT))  # the CLI's setting
    before = (store.counts(), store.data_version())
    if channel == "cli":
        outcome = through_cli(store, case, tmp_path, capsys)
    elif channel == "api":
        outcome = through_api(store, case)
    else:
        outcome = through_inbox(store, case, tmp_path)

    if case.refused is not None:
        assert outcome.refused is not None, outcome
        status, message = outcome.refused
        if channel == "api":
            assert status == case.refused[0]
        assert case.refused[1] in message
        assert "polls.csv" in message or channel == "api"
        assert (store.counts(), store.data_version()) == before  # nothing stored
        return

    assert outcome.refused is None, outcome.refused
    summary = outcome.summary
    assert summary is not None
    polls = store.report_inputs(None).polls.column("store_id").cast("string").to_pylist()
    assert sorted(polls) == case.loaded  # every valid row landed
    assert summary["loaded"] == len(case.loaded)
    assert summary["rejected"] == len(case.rejects)
    stored = sorted(store.rejects(limit=100).to_pylist(), key=lambda r: r["line"])
    assert len(stored) == len(case.rejects)
    for reject, (line, reason, store_id) in zip(stored, case.rejects, strict=True):
        assert reject["line"] == line
        assert reason in reject["reason"]
        assert reject["store_id"] == store_id
        assert "\x00" not in reject["raw"]
    warnings = summary["warnings"]
    assert isinstance(warnings, list)
    if case.warning is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert case.warning in warning
