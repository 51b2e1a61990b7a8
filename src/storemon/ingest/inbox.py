"""The inbox: a directory where CSV files are dropped, ingested on a schedule.

A scan takes every ``*.csv`` and ``*.csv.gz`` file directly in the inbox, oldest
first (by modification time, then name), tells its source from its HEADER
(``status`` → polls, ``timezone_str`` → timezones, ``start_time_local`` /
``end_time_local`` / a day column → business hours), ingests it in its own
transaction and moves it to ``processed/``, or to ``failed/`` with
``<name>.reason.txt`` beside it when the file is refused as a whole.

Writing protocol, so that a file still being written is never ingested: write
``name.csv.part`` (or a dotfile such as ``.name.csv``) and rename it to
``name.csv`` when complete — a rename within one directory is atomic. Files
ending ``.part``, dotfiles and subdirectories are ignored.

Several scanners may share one inbox (``storemon serve`` and ``storemon watch``
on one PostgreSQL database): before reading a file, a scan CLAIMS it by renaming
it into its own hidden folder ``.claimed-<pid>-<thread>/`` (atomic; a rename
that finds the file gone means another scanner took it: skipped). So each file
is ingested once. When the database fails (:class:`StoreError`), the file is put
back into the inbox and the scan stops; the next scan tries again. Each scan
first puts back the claims of processes that are no longer running (a scanner
killed mid-file); a live process's claims are never touched. Scanners sharing
an inbox must run on one host (the pid check is local).
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import zlib
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from storemon.errors import IngestError, StoreError, StoremonError
from storemon.ingest.service import IngestSummary, ingest
from storemon.pids import pid_alive
from storemon.schema import Source
from storemon.store.base import Store

__all__ = [
    "InboxResult",
    "InboxWatcher",
    "claim",
    "detect_source",
    "inbox_files",
    "recover_claims",
    "scan_inbox",
]

log = logging.getLogger("storemon.inbox")

PROCESSED: Final = "processed"
FAILED: Final = "failed"
CLAIMED_PREFIX: Final = ".claimed-"
_HEADER_BYTES: Final = 64 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_HOURS_COLUMNS: Final = frozenset(
    {"start_time_local", "end_time_local", "dayofweek", "day", "day_of_week"}
)


@dataclass(frozen=True)
class InboxResult:
    """What happened to one inbox file."""

    name: str  # the file name as found in the inbox
    moved_to: Path | None  # where it is now (processed/ or failed/); None if left in place
    source: Source | None  # None when the header was not recognised
    summary: IngestSummary | None  # set when ingested
    error: str | None  # why it failed, when it did

    @property
    def ok(self) -> bool:
        """Whether the file was ingested."""
        return self.summary is not None


def inbox_files(inbox_dir: str | os.PathLike[str]) -> list[Path]:
    """The files a scan would take now, in the order it would take them."""
    inbox = Path(inbox_dir)
    if not inbox.is_dir():
        return []
    found = [
        entry
        for entry in inbox.iterdir()
        if entry.is_file()
        and not entry.name.startswith(".")
        and entry.name.lower().endswith((".csv", ".csv.gz"))
    ]
    keyed = []
    for path in found:
        try:
            keyed.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:  # taken by another scanner meanwhile
            continue
    return [path for _, _, path in sorted(keyed, key=lambda item: item[:2])]


def detect_source(path: str | os.PathLike[str]) -> Source:
    """Which source a CSV file holds, from its header; IngestError if it cannot tell."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            head = stream.read(_HEADER_BYTES)
        if head[:2] == _GZIP_MAGIC:  # by content, as the CSV reader does, not by name
            with gzip.open(file, "rb") as stream:
                head = stream.read(_HEADER_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise IngestError(f"{file.name}: cannot read the file ({error})") from error
    line = head.removeprefix(b"\xef\xbb\xbf").splitlines()[0] if head.strip() else b""
    columns = {
        part.strip().strip('"').strip().lower()
        for part in line.decode("utf-8", errors="replace").split(",")
    }
    if "timezone_str" in columns:
        return "timezones"
    if "status" in columns:
        return "status"
    if columns & _HOURS_COLUMNS:
        return "hours"
    shown = line.decode("utf-8", errors="replace")[:200] or "(empty)"
    raise IngestError(
        f"{file.name}: cannot tell which data the file holds from its header ({shown}); "
        "expected a status file (store_id,status,timestamp_utc), business hours "
        "(store_id,dayOfWeek,start_time_local,end_time_local) or timezones "
        "(store_id,timezone_str)"
    )


def claim(path: Path) -> Path | None:
    """Take ``path`` for this scan: rename it into this thread's claim folder.

    None when the file is gone (another scanner claimed it first).
    """
    folder = _claim_folder(path.parent)
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    return target


def recover_claims(inbox_dir: str | os.PathLike[str]) -> list[Path]:
    """Put back into the inbox the files claimed by scanners that are gone.

    A claim folder is recovered when its process is no longer running, or when it
    is this very thread's (left by an interrupted scan). Returns the files put back.
    """
    inbox = Path(inbox_dir)
    if not inbox.is_dir():
        return []
    recovered: list[Path] = []
    for folder in inbox.glob(f"{CLAIMED_PREFIX}*"):
        owner = _claim_owner(folder)
        if owner is None:
            continue
        pid, thread = owner
        if pid == os.getpid():
            if thread != threading.get_ident():
                continue  # another thread of this process may be scanning
        elif pid_alive(pid):
            continue
        for file in sorted(folder.iterdir()):
            try:
                recovered.append(_move(file, inbox))
            except FileNotFoundError:  # another scanner recovered it first
                continue
            log.warning("inbox: %s put back from %s (its scanner stopped)", file.name, folder.name)
        with suppress(OSError):
            folder.rmdir()
    return recovered


def _claim_folder(inbox: Path) -> Path:
    return inbox / f"{CLAIMED_PREFIX}{os.getpid()}-{threading.get_ident()}"


def _claim_owner(folder: Path) -> tuple[int, int] | None:
    pid, _, thread = folder.name.removeprefix(CLAIMED_PREFIX).partition("-")
    if not (folder.is_dir() and pid.isdigit() and thread.isdigit()):
        return None
    return int(pid), int(thread)


def scan_inbox(
    store: Store, inbox_dir: str | os.PathLike[str], *, stop: threading.Event | None = None
) -> list[InboxResult]:
    """Ingest every complete file in the inbox, one transaction per file; move each away.

    ``stop``, when set, ends the scan before the next file.
    """
    results: list[InboxResult] = []
    inbox = Path(inbox_dir)
    recover_claims(inbox)
    try:
        for path in inbox_files(inbox):
            if stop is not None and stop.is_set():
                break
            claimed = claim(path)
            if claimed is None:
                log.info("inbox: %s was taken by another scanner; skipped", path.name)
                continue
            try:
                result = _take(store, inbox, claimed)
            finally:
                if claimed.exists():  # not ingested (database failure, crash): back in line
                    _move(claimed, inbox)
            results.append(result)
            if result.moved_to is None:  # the database failed
                break
    finally:
        with suppress(OSError):  # absent, or not empty after a failed move back
            _claim_folder(inbox).rmdir()
    return results


def _take(store: Store, inbox: Path, claimed: Path) -> InboxResult:
    """Ingest one claimed file and move it to processed/ or failed/."""
    source: Source | None = None
    try:
        source = detect_source(claimed)
        summary = ingest(store, {source: claimed}, names={source: claimed.name})
    except StoreError as error:
        log.error("inbox: %s stays in the inbox, the database failed: %s", claimed.name, error)
        return InboxResult(claimed.name, None, source, None, str(error))
    except StoremonError as error:
        failed = _move(claimed, inbox / FAILED)
        failed.with_name(failed.name + ".reason.txt").write_text(f"{error}\n", encoding="utf-8")
        log.warning("inbox: %s refused, moved to %s: %s", claimed.name, failed, error)
        return InboxResult(claimed.name, failed, source, None, str(error))
    moved = _move(claimed, inbox / PROCESSED)
    part = summary.sources[source]
    log.info(
        "inbox: %s ingested as %s: %d rows, %d loaded, %d rejected; moved to %s",
        claimed.name,
        source,
        part.rows,
        part.loaded,
        part.rejected,
        moved,
    )
    return InboxResult(claimed.name, moved, source, summary, None)


def _move(path: Path, directory: Path) -> Path:
    """Move ``path`` into ``directory``; an existing name gets a UTC time prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = directory / f"{stamp}-{path.name}"
    path.replace(target)
    return target


class InboxWatcher:
    """Scans an inbox every ``interval_seconds`` in a daemon thread, until :meth:`stop`."""

    def __init__(
        self, store: Store, inbox_dir: str | os.PathLike[str], interval_seconds: float
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.store = store
        self.inbox_dir = Path(inbox_dir)
        self.interval_seconds = interval_seconds
        self.scans = 0  # completed scans, for tests and status pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start scanning now, then every interval. Creates the inbox directory."""
        if self._thread is not None:
            raise RuntimeError("the inbox watcher is already started")
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="storemon-inbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (an ingest in progress finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                scan_inbox(self.store, self.inbox_dir, stop=self._stop)
            except Exception:  # keep watching: one bad scan must not end the thread
                log.exception("inbox: scanning %s failed", self.inbox_dir)
            self.scans += 1
            self._stop.wait(self.interval_seconds)
