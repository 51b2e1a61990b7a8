"""The inbox: header recognition, the .part protocol, processed/ and failed/, the watcher."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storemon.errors import IngestError, StoreError
from storemon.ingest.inbox import (
    InboxResult,
    InboxWatcher,
    detect_source,
    inbox_files,
    scan_inbox,
)
from storemon.store import Store, open_store

STATUS = b"store_id,status,timestamp_utc\na,active,2023-01-23 10:00:00 UTC\n"
HOURS = b"store_id,day,start_time_local,end_time_local\na,0,09:00:00,12:00:00\n"
ZONES = b"store_id,timezone_str\na,Asia/Tokyo\n"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox directory (beside, not holding, the test database)."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def _write(path: Path, data: bytes, mtime: float | None = None) -> Path:
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize(
    ("header", "source"),
    [
        (b"store_id,status,timestamp_utc", "status"),
        (b'\xef\xbb\xbf"Store_ID" , STATUS ,timestamp_utc', "status"),
        (b"timestamp_utc,status,store_id,extra", "status"),
        (b"store_id,dayOfWeek,start_time_local,end_time_local", "hours"),
        (b"store_id,day,start_time_local,end_time_local", "hours"),
        (b"store_id,day_of_week,start_time_local", "hours"),
        (b"store_id,timezone_str", "timezones"),
        (b"TIMEZONE_STR,store_id\r", "timezones"),
    ],
)
def test_source_is_recognised_by_header(tmp_path: Path, header: bytes, source: str) -> None:
    assert detect_source(_write(tmp_path / "x.csv", header + b"\n1,2,3\n")) == source
    packed = tmp_path / "x.csv.gz"
    packed.write_bytes(gzip.compress(header + b"\n"))
    assert detect_source(packed) == source


def test_gzip_is_told_by_content_like_storemon_ingest_does(store: Store, inbox: Path) -> None:
    # `storemon ingest` unpacks by the gzip magic, not the name: the inbox agrees.
    _write(inbox / "packed.csv", gzip.compress(STATUS), mtime=1_000)
    _write(inbox / "plain.csv.gz", ZONES, mtime=2_000)
    assert detect_source(inbox / "packed.csv") == "status"
    assert detect_source(inbox / "plain.csv.gz") == "timezones"
    results = scan_inbox(store, inbox)
    assert [(r.name, r.source, r.ok) for r in results] == [
        ("packed.csv", "status", True),
        ("plain.csv.gz", "timezones", True),
    ]
    assert store.counts()["polls"] == 1
    assert store.counts()["timezones"] == 1


def test_a_broken_gzip_file_is_refused_with_a_reason(store: Store, inbox: Path) -> None:
    _write(inbox / "cut.csv.gz", gzip.compress(STATUS * 2000)[:200])
    (result,) = scan_inbox(store, inbox)
    assert result.moved_to == inbox / "failed" / "cut.csv.gz"
    reason = (inbox / "failed" / "cut.csv.gz.reason.txt").read_text()
    assert "cut.csv.gz" in reason
    assert store.data_version() == 0


def test_an_unknown_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot tell which data"):
        detect_source(_write(tmp_path / "menu.csv", b"item,price\nsoup,3\n"))
    with pytest.raises(IngestError, match="empty"):
        detect_source(_write(tmp_path / "empty.csv", b""))


def test_only_complete_csv_files_are_taken_oldest_first(inbox: Path) -> None:
    _write(inbox / "b.csv", STATUS, mtime=2_000)
    _write(inbox / "a.csv.gz", gzip.compress(STATUS), mtime=3_000)
    _write(inbox / "c.CSV", STATUS, mtime=1_000)
    _write(inbox / "d.csv.part", STATUS)
    _write(inbox / ".e.csv", STATUS)
    _write(inbox / "notes.txt", b"hello")
    (inbox / "processed").mkdir()
    _write(inbox / "processed" / "old.csv", STATUS)
    assert [p.name for p in inbox_files(inbox)] == ["c.CSV", "b.csv", "a.csv.gz"]
    assert inbox_files(inbox / "missing") == []


def test_scan_ingests_each_file_and_moves_it(store: Store, inbox: Path) -> None:
    _write(inbox / "polls.csv", STATUS, mtime=1_000)
    _write(inbox / "hours.csv", HOURS, mtime=2_000)
    _write(inbox / "zones.csv.gz", gzip.compress(ZONES), mtime=3_000)
    _write(inbox / "later.csv.part", STATUS)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.source, r.ok) for r in results] == [
        ("polls.csv", "status", True),
        ("hours.csv", "hours", True),
        ("zones.csv.gz", "timezones", True),
    ]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "hours.csv",
        "polls.csv",
        "zones.csv.gz",
    ]
    assert results[0].moved_to == inbox / "processed" / "polls.csv"
    assert store.counts() == {"polls": 1, "hours": 1, "timezones": 1, "rejects": 0, "stores": 1}
    assert sorted(p.name for p in inbox.iterdir()) == ["later.csv.part", "processed"]
    assert scan_inbox(store, inbox) == []  # nothing new


def test_later_files_win_and_names_never_clash(store: Store, inbox: Path) -> None:
    inactive = STATUS.replace(b"active", b"inactive")
    _write(inbox / "polls.csv", STATUS, mtime=1_000)
    scan_inbox(store, inbox)
    _write(inbox / "polls.csv", inactive, mtime=2_000)  # the same name, an hour later
    results = scan_inbox(store, inbox)
    assert results[0].ok
    assert results[0].moved_to is not None
    assert results[0].moved_to.name.endswith("-polls.csv")
    assert len(list((inbox / "processed").iterdir())) == 2
    assert store.report_inputs(None).polls.column("active").to_pylist() == [False]


def test_refused_files_go_to_failed_with_a_reason(store: Store, inbox: Path) -> None:
    _write(inbox / "menu.csv", b"item,price\nsoup,3\n", mtime=1_000)
    _write(inbox / "short.csv", b"store_id,status\na,active\n", mtime=2_000)
    _write(inbox / "good.csv", STATUS, mtime=3_000)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.ok) for r in results] == [
        ("menu.csv", False),
        ("short.csv", False),
        ("good.csv", True),
    ]
    failed = inbox / "failed"
    assert sorted(p.name for p in failed.iterdir()) == [
        "menu.csv",
        "menu.csv.reason.txt",
        "short.csv",
        "short.csv.reason.txt",
    ]
    assert "cannot tell which data" in (failed / "menu.csv.reason.txt").read_text()
    reason = (failed / "short.csv.reason.txt").read_text()
    assert "short.csv" in reason
    assert "timestamp_utc" in reason
    assert results[1].source == "status"
    assert store.counts()["polls"] == 1


def test_a_database_failure_leaves_the_file_for_the_next_scan(
    duckdb_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _write(inbox / "polls.csv", STATUS)
    closed = open_store(duckdb_url)
    closed.close()
    results = scan_inbox(closed, inbox)
    assert results[0].moved_to is None
    assert results[0].error is not None
    assert "closed" in results[0].error
    assert (inbox / "polls.csv").exists()
    assert not (inbox / "failed").exists()


def test_watcher_scans_at_start_and_stops_promptly(store: Store, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"  # created by start()
    watcher = InboxWatcher(store, inbox, interval_seconds=3600)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while watcher.scans < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.scans == 1
        assert inbox.is_dir()
    finally:
        started = time.monotonic()
        watcher.stop()
        assert time.monotonic() - started < 2


def test_watcher_picks_up_files_every_interval(store: Store, inbox: Path) -> None:
    watcher = InboxWatcher(store, inbox, interval_seconds=0.05)
    watcher.start()
    try:
        _write(inbox / "polls.csv.part", STATUS)
        time.sleep(0.2)
        assert store.counts()["polls"] == 0  # .part files are not ingested
        (inbox / "polls.csv.part").rename(inbox / "polls.csv")
        deadline = time.monotonic() + 10
        while store.counts()["polls"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.counts()["polls"] == 1
    finally:
        watcher.stop()
    with pytest.raises(ValueError, match="positive"):
        InboxWatcher(store, inbox, interval_seconds=0)


BAD_ROW = b"a,maybe,2023-01-23 11:00:00 UTC\n"  # one reject per status file


def test_a_second_scanner_never_ingests_a_file_the_first_is_ingesting(
    store: Store, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two scanners (say `storemon watch` and `storemon serve` on one PostgreSQL
    # database) share an inbox. The second scans while the first has ingested a
    # file but not yet moved it: each file must still be ingested exactly once.
    from storemon.ingest import inbox as inbox_module

    _write(inbox / "a.csv", STATUS + BAD_ROW, mtime=1_000)
    _write(inbox / "b.csv", STATUS + BAD_ROW, mtime=2_000)
    real_store_files = inbox_module.store_files
    other: list[InboxResult] = []
    raced: list[bool] = []

    def store_then_race(store: Store, read: object) -> object:
        summary = real_store_files(store, read)  # type: ignore[arg-type]
        if not raced:  # once: the other scanner runs a whole scan right now
            raced.append(True)
            racer = threading.Thread(target=lambda: other.extend(scan_inbox(store, inbox)))
            racer.start()
            racer.join()
        return summary

    monkeypatch.setattr(inbox_module, "store_files", store_then_race)
    first = scan_inbox(store, inbox)
    names = sorted(r.name for r in [*first, *other] if r.ok)
    assert names == ["a.csv", "b.csv"]  # each once, whoever took it
    assert store.counts()["rejects"] == 2
    assert store.data_version() == 2
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a.csv", "b.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]  # no claim folder left


def test_claiming_a_file_twice_takes_it_once(inbox: Path) -> None:
    from storemon.ingest.inbox import claim

    path = _write(inbox / "a.csv", STATUS)
    claimed = claim(path)
    assert claimed is not None
    assert claimed.parent.name.startswith(f".claimed-{os.getpid()}-")
    assert claimed.read_bytes() == STATUS
    assert claim(path) is None  # another scanner took it: skip, not an error
    assert inbox_files(inbox) == []  # claim folders are hidden from the scan


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_claims_of_a_dead_scanner_are_put_back_and_ingested(store: Store, inbox: Path) -> None:
    folder = inbox / f".claimed-{_dead_pid()}-1"
    folder.mkdir()
    _write(folder / "a.csv", STATUS + BAD_ROW, mtime=1_000)
    _write(inbox / "b.csv", ZONES, mtime=2_000)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.ok) for r in results] == [("a.csv", True), ("b.csv", True)]
    assert not folder.exists()
    assert store.counts()["polls"] == 1
    assert store.counts()["rejects"] == 1


def test_claims_of_a_live_scanner_are_left_alone(store: Store, inbox: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folders = [
            inbox / f".claimed-{live.pid}-1",  # another live process
            inbox / f".claimed-{os.getpid()}-1",  # another thread of this process
        ]
        for folder in folders:
            folder.mkdir()
            _write(folder / "a.csv", STATUS)
        assert scan_inbox(store, inbox) == []
        for folder in folders:
            assert (folder / "a.csv").read_bytes() == STATUS
        assert store.counts()["polls"] == 0
    finally:
        live.kill()
        live.wait()


def test_a_database_failure_puts_the_claimed_file_back(
    store: Store, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import inbox as inbox_module

    _write(inbox / "a.csv", STATUS, mtime=1_000)
    _write(inbox / "b.csv", ZONES, mtime=2_000)

    def broken(*args: object, **kw: object) -> object:
        raise StoreError("the database is down")

    monkeypatch.setattr(inbox_module, "store_files", broken)
    monkeypatch.setattr(store, "data_version", broken)  # down for every query
    (result,) = scan_inbox(store, inbox)  # the scan stops at the first failure
    assert (result.name, result.moved_to, result.error) == ("a.csv", None, "the database is down")
    assert sorted(p.name for p in inbox.iterdir()) == ["a.csv", "b.csv"]
    assert (inbox / "a.csv").stat().st_mtime == 1_000  # still first in line
    monkeypatch.undo()
    assert [r.name for r in scan_inbox(store, inbox) if r.ok] == ["a.csv", "b.csv"]


def test_a_file_gone_before_its_stat_is_skipped(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(inbox / "a.csv", STATUS, mtime=1_000)
    _write(inbox / "b.csv", STATUS, mtime=2_000)
    real_scandir = os.scandir

    class Gone:  # a.csv is listed, then taken by another scanner before its stat
        def __init__(self, entry: os.DirEntry[str]) -> None:
            self.entry = entry
            self.name = entry.name

        def stat(self, **kw: bool) -> os.stat_result:
            if self.name == "a.csv":
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.name)
            return self.entry.stat(**kw)

    class Listing:
        def __init__(self, path: Path) -> None:
            self.scan = real_scandir(path)

        def __enter__(self) -> list[Gone]:
            return [Gone(entry) for entry in self.scan]

        def __exit__(self, *exc: object) -> None:
            self.scan.close()

    monkeypatch.setattr(os, "scandir", Listing)
    assert [p.name for p in inbox_files(inbox)] == ["b.csv"]


# --- hardening (issue 15 items 7, 13, 14; issue 14 item 10) ---------------------------------


def test_symbolic_links_are_moved_aside_unread(store: Store, inbox: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    outside = tmp_path / "outside.csv"
    outside.write_bytes(STATUS)
    (inbox / "passwd.csv").symlink_to(secret)
    (inbox / "polls.csv").symlink_to(outside)
    (inbox / "dangling.csv.gz").symlink_to(tmp_path / "nowhere")
    results = scan_inbox(store, inbox)
    assert sorted((r.name, r.outcome) for r in results) == [
        ("dangling.csv.gz", "failed"),
        ("passwd.csv", "failed"),
        ("polls.csv", "failed"),
    ]
    failed = inbox / "failed"
    for name in ("passwd.csv", "polls.csv", "dangling.csv.gz"):
        assert (failed / name).is_symlink()  # the link was moved, not its target
        reason = (failed / f"{name}.reason.txt").read_text()
        assert reason.startswith(f"{name}: is a symbolic link")
        assert "root" not in reason
        assert str(tmp_path) not in reason
    assert secret.exists()
    assert outside.read_bytes() == STATUS
    assert store.counts()["polls"] == 0
    assert store.counts()["rejects"] == 0


def test_a_link_put_in_place_of_a_claimed_file_is_not_followed(
    store: Store, inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import inbox as inbox_module

    secret = tmp_path / "secret.csv"
    secret.write_bytes(STATUS)
    _write(inbox / "polls.csv", STATUS)
    real_claim = inbox_module.claim

    def swap(path: Path) -> Path | None:  # the file becomes a link after it was listed
        claimed = real_claim(path)
        assert claimed is not None
        claimed.unlink()
        claimed.symlink_to(secret)
        return claimed

    monkeypatch.setattr(inbox_module, "claim", swap)
    (result,) = scan_inbox(store, inbox)
    assert result.outcome == "failed"
    assert "is a symbolic link" in (result.error or "")
    assert store.counts()["polls"] == 0


def test_a_named_pipe_is_moved_aside_without_blocking(store: Store, inbox: Path) -> None:
    os.mkfifo(inbox / "pipe.csv")
    _write(inbox / "good.csv", STATUS)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.outcome) for r in results] == [
        ("pipe.csv", "failed"),
        ("good.csv", "ingested"),
    ]
    assert "is not a regular file" in (inbox / "failed" / "pipe.csv.reason.txt").read_text()


def test_other_names_are_reported_as_skipped_and_left_alone(store: Store, inbox: Path) -> None:
    _write(inbox / "notes.txt", b"hello")
    _write(inbox / "polls.csv.part", STATUS)
    _write(inbox / ".hidden.csv", STATUS)
    (result,) = scan_inbox(store, inbox)
    assert (result.name, result.outcome, result.moved_to, result.ok) == (
        "notes.txt",
        "skipped",
        None,
        False,
    )
    assert result.error == "not a .csv or .csv.gz file"
    assert (inbox / "notes.txt").exists()


def test_a_poison_file_goes_to_failed_and_the_scan_goes_on(
    store: Store, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import inbox as inbox_module

    _write(inbox / "poison.csv", STATUS, mtime=1_000)
    _write(inbox / "good.csv", ZONES, mtime=2_000)
    real_read = inbox_module.read_files

    def read(files: dict[str, object], **kw: object) -> object:
        if kw.get("names") == {"status": "poison.csv"}:
            raise MemoryError("out of memory")
        return real_read(files, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox_module, "read_files", read)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.outcome) for r in results] == [
        ("poison.csv", "failed"),
        ("good.csv", "ingested"),
    ]
    reason = (inbox / "failed" / "poison.csv.reason.txt").read_text()
    assert "internal error (MemoryError: out of memory)" in reason
    assert store.counts()["timezones"] == 1


def test_a_file_the_database_refuses_while_it_answers_goes_to_failed(
    store: Store, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import inbox as inbox_module

    _write(inbox / "a.csv", STATUS, mtime=1_000)
    _write(inbox / "b.csv", ZONES, mtime=2_000)
    real_store_files = inbox_module.store_files

    def refuse_a(store: Store, read: object) -> object:
        if "status" in read.parsed:  # type: ignore[attr-defined]
            raise StoreError("value too long for this database")
        return real_store_files(store, read)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox_module, "store_files", refuse_a)
    results = scan_inbox(store, inbox)
    assert [(r.name, r.outcome) for r in results] == [("a.csv", "failed"), ("b.csv", "ingested")]
    assert (
        "the database refused it: value too long"
        in (inbox / "failed" / "a.csv.reason.txt").read_text()
    )


def test_a_file_ingested_before_a_crash_is_not_ingested_again(store: Store, inbox: Path) -> None:
    """Killed after the commit, before the move: the file comes back from the claim."""
    _write(inbox / "a.csv", STATUS + BAD_ROW)
    scan_inbox(store, inbox)
    before = (store.counts(), store.data_version())
    folder = inbox / f".claimed-{_dead_pid()}-1"  # as a killed scanner leaves it
    folder.mkdir()
    (inbox / "processed" / "a.csv").rename(folder / "a.csv")
    (result,) = scan_inbox(store, inbox)
    assert (result.name, result.outcome, result.ok) == ("a.csv", "duplicate", True)
    assert result.error is not None
    assert result.error.startswith("already ingested at ")
    assert (store.counts(), store.data_version()) == before  # rejects not stored twice
    assert sorted(p.name for p in (inbox / "processed").iterdir())[-1].endswith("a.csv")
    _write(inbox / "a.csv", STATUS.replace(b"active", b"inactive"))  # new contents: ingested
    assert scan_inbox(store, inbox)[0].outcome == "ingested"


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 10,
        b"\x89PNG\r\n\x1a\n" + bytes(300),
        gzip.compress(gzip.compress(STATUS)),
    ],
)
def test_a_binary_file_has_one_clear_reason(store: Store, inbox: Path, data: bytes) -> None:
    _write(inbox / "blob.csv", data)
    (result,) = scan_inbox(store, inbox)
    assert result.outcome == "failed"
    reason = (inbox / "failed" / "blob.csv.reason.txt").read_text()
    assert reason.startswith("blob.csv: is ")
    assert reason.endswith("\n")
    assert reason[:-1].isprintable()  # one line of words, no raw bytes
    assert "not a text file" in reason or "compressed twice" in reason
