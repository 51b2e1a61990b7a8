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

When the database fails (:class:`StoreError`), the file stays in the inbox
and the scan stops; the next scan tries again. A file that vanishes during a
scan (another scanner on the same inbox took it) is skipped, not an error.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from storemon.errors import IngestError, StoreError, StoremonError
from storemon.ingest.service import IngestSummary, ingest
from storemon.schema import Source
from storemon.store.base import Store

__all__ = ["InboxResult", "InboxWatcher", "detect_source", "inbox_files", "scan_inbox"]

log = logging.getLogger("storemon.inbox")

PROCESSED: Final = "processed"
FAILED: Final = "failed"
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


def scan_inbox(
    store: Store, inbox_dir: str | os.PathLike[str], *, stop: threading.Event | None = None
) -> list[InboxResult]:
    """Ingest every complete file in the inbox, one transaction per file; move each away.

    ``stop``, when set, ends the scan before the next file.
    """
    results: list[InboxResult] = []
    inbox = Path(inbox_dir)
    for path in inbox_files(inbox):
        if stop is not None and stop.is_set():
            break
        source: Source | None = None
        try:
            source = detect_source(path)
            summary = ingest(store, {source: path}, names={source: path.name})
        except StoreError as error:
            log.error("inbox: %s stays in the inbox, the database failed: %s", path.name, error)
            results.append(InboxResult(path.name, None, source, None, str(error)))
            break
        except StoremonError as error:
            if not path.exists():
                log.info("inbox: %s was taken by another scanner; skipped", path.name)
                continue
            failed = _move(path, inbox / FAILED)
            failed.with_name(failed.name + ".reason.txt").write_text(f"{error}\n", encoding="utf-8")
            log.warning("inbox: %s refused, moved to %s: %s", path.name, failed, error)
            results.append(InboxResult(path.name, failed, source, None, str(error)))
            continue
        try:
            moved: Path | None = _move(path, inbox / PROCESSED)
        except FileNotFoundError:  # another scanner ingested and moved it too
            log.info("inbox: %s ingested, but another scanner moved it away", path.name)
            moved = None
        part = summary.sources[source]
        log.info(
            "inbox: %s ingested as %s: %d rows, %d loaded, %d rejected; moved to %s",
            path.name,
            source,
            part.rows,
            part.loaded,
            part.rejected,
            moved,
        )
        results.append(InboxResult(path.name, moved, source, summary, None))
    return results


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
