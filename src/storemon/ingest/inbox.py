"""The inbox: a directory where CSV files are dropped, ingested on a schedule.

A scan takes every ``*.csv`` and ``*.csv.gz`` regular file directly in the inbox,
oldest first (by modification time, then name), tells its source from its HEADER
(``status`` → polls, ``timezone_str`` → timezones, ``start_time_local`` /
``end_time_local`` / a day column → business hours), ingests it in its own
transaction and moves it to ``processed/``, or to ``failed/`` with
``<name>.reason.txt`` beside it when it cannot be ingested — for whatever reason:
a file that fails never blocks the files after it.

Only regular files that are really in the inbox are read: a symbolic link, pipe,
socket or device with a CSV name is moved to ``failed/`` unread (the link itself,
not its target), with a reason that names no target. Other names (``notes.txt``)
are skipped and reported as such; files ending ``.part``, dotfiles and
subdirectories are ignored silently.

Writing protocol, so that a file still being written is never ingested: write
``name.csv.part`` (or a dotfile such as ``.name.csv``) and rename it to
``name.csv`` when complete — a rename within one directory is atomic.

Several scanners may share one inbox (``storemon serve`` and ``storemon watch``
on one PostgreSQL database): before reading a file, a scan CLAIMS it by renaming
it into its own hidden folder ``.claimed-<pid>-<thread>/`` (atomic; a rename
that finds the file gone means another scanner took it: skipped). So each file
is ingested once. When the database fails (:class:`StoreError`) and does not
answer a simple query either, the file is put back into the inbox and the scan
stops; the next scan tries again (a database that answers but refused this file
sends it to ``failed/``). Each scan first puts back the claims of processes that
are no longer running (a scanner killed mid-file); a live process's claims are
never touched. Scanners sharing an inbox must run on one host (the pid check is
local).

A file killed after its ingest committed but before it moved (e.g. during
PostgreSQL's ``VACUUM`` after a large batch) is not ingested twice: the ingest
records the file's name and sha256 in the same transaction (the store's ledger of
ingested files), and a scan that finds a file with that name and content already
ingested moves it to ``processed/`` without ingesting it again. (To ingest the
same contents again on purpose, give the file another name.)
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final, Literal

from storemon.errors import IngestError, StoreError, StoremonError
from storemon.ingest._input import Input, refuse_binary
from storemon.ingest.service import IngestSummary, read_files, store_files
from storemon.periodic import Periodic
from storemon.pids import pid_alive
from storemon.schema import Source
from storemon.store.base import Store

__all__ = [
    "InboxResult",
    "InboxWatcher",
    "Outcome",
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
_SHOWN_HEADER: Final = 200
_SUFFIXES: Final = (".csv", ".csv.gz")
_HOURS_COLUMNS: Final = frozenset(
    {"start_time_local", "end_time_local", "dayofweek", "day", "day_of_week"}
)

#: What a scan did with one inbox entry: ``ingested`` (moved to processed/), ``duplicate``
#: (already ingested, per the ledger: moved to processed/ without ingesting), ``failed``
#: (moved to failed/ with a reason), ``skipped`` (not a CSV name: left in place), or
#: ``deferred`` (the database is down: left in the inbox for the next scan).
Outcome = Literal["ingested", "duplicate", "failed", "skipped", "deferred"]


@dataclass(frozen=True)
class InboxResult:
    """What happened to one inbox entry."""

    name: str  # the file name as found in the inbox
    moved_to: Path | None  # where it is now (processed/ or failed/); None if left in place
    source: Source | None  # None when the header was not recognised
    summary: IngestSummary | None  # set when ingested
    error: str | None  # why it failed or was skipped or deferred
    outcome: Outcome = "ingested"

    @property
    def ok(self) -> bool:
        """Whether the file was ingested (now, or by an earlier scan: a duplicate)."""
        return self.outcome in ("ingested", "duplicate")


@dataclass(frozen=True)
class _Listing:
    files: list[Path]  # regular CSV files, in scan order
    aside: list[tuple[Path, str]]  # CSV names that are not regular files, and why
    skipped: list[Path]  # other names (dotfiles and .part files are not listed)


def inbox_files(inbox_dir: str | os.PathLike[str]) -> list[Path]:
    """The files a scan would take now, in the order it would take them."""
    return _list(Path(inbox_dir)).files


def _list(inbox: Path) -> _Listing:
    if not inbox.is_dir():
        return _Listing([], [], [])
    keyed: list[tuple[int, str, Path]] = []
    aside: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.endswith(".part"):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # taken by another scanner meanwhile
                continue
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                continue
            path = inbox / name
            if not name.lower().endswith(_SUFFIXES):
                skipped.append(path)
            elif stat.S_ISLNK(mode):
                aside.append((path, _SYMLINK))
            elif not stat.S_ISREG(mode):
                aside.append((path, _SPECIAL))
            else:
                keyed.append((info.st_mtime_ns, name, path))
    files = [path for _, _, path in sorted(keyed, key=lambda item: item[:2])]
    return _Listing(files, sorted(aside), sorted(skipped))


_SYMLINK: Final = (
    "is a symbolic link; the inbox reads only regular files placed in it "
    "(copy the file into the inbox instead of linking it)"
)
_SPECIAL: Final = "is not a regular file (a pipe, socket or device); the inbox reads only files"


def detect_source(path: str | os.PathLike[str]) -> Source:
    """Which source a CSV file holds, from its header; IngestError if it cannot tell."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            return _detect(stream, file.name)
    except OSError as error:
        raise IngestError(
            f"{file.name}: cannot read the file ({error.strerror or error})"
        ) from None


def _detect(stream: IO[bytes], name: str) -> Source:
    """:func:`detect_source` on an open file; leaves it at its start."""
    head = b""
    for chunk in Input(stream, name, max_text_bytes=1 << 62).chunks():  # plain or gzip
        head += chunk
        if len(head) >= _HEADER_BYTES:
            break
    stream.seek(0)
    head = head.removeprefix(b"\xef\xbb\xbf")
    refuse_binary(head, name)
    line = head.lstrip(b"\r\n").splitlines()[0] if head.strip() else b""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError(
            f"{name}: is not a text file (its first line is not UTF-8 text)"
        ) from None
    if any(ord(char) < 32 and char != "\t" for char in text):
        raise IngestError(f"{name}: is not a text file (binary data); expected a UTF-8 CSV")
    columns = {part.strip().strip('"').strip().lower() for part in _fields(text)}
    if "timezone_str" in columns:
        return "timezones"
    if "status" in columns:
        return "status"
    if columns & _HOURS_COLUMNS:
        return "hours"
    shown = text[:_SHOWN_HEADER] + ("..." if len(text) > _SHOWN_HEADER else "") or "(empty)"
    raise IngestError(
        f"{name}: cannot tell which data the file holds from its header ({shown}); "
        "expected a status file (store_id,status,timestamp_utc), business hours "
        "(store_id,dayOfWeek,start_time_local,end_time_local) or timezones "
        "(store_id,timezone_str)"
    )


def _fields(header: str) -> list[str]:
    """The header's fields, split by commas (or by ; or tabs when it has no comma)."""
    for separator in (",", ";", "\t"):
        if separator in header:
            return header.split(separator)
    return [header]


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
    store: Store,
    inbox_dir: str | os.PathLike[str],
    *,
    stop: threading.Event | None = None,
    max_decompressed_bytes: int | None = None,
) -> list[InboxResult]:
    """Ingest every complete file in the inbox, one transaction per file; move each away.

    Returns one result per entry handled: the files taken (ingested, duplicate, failed,
    or deferred when the database is down, which ends the scan), the entries moved aside
    unread, and the skipped names. ``stop``, when set, ends the scan before the next file.
    ``max_decompressed_bytes`` limits each file's text (default: the setting).
    """
    results: list[InboxResult] = []
    inbox = Path(inbox_dir)
    recover_claims(inbox)
    listing = _list(inbox)
    for path in listing.skipped:
        log.info("inbox: %s skipped (not a .csv or .csv.gz file)", path.name)
        results.append(
            InboxResult(path.name, None, None, None, "not a .csv or .csv.gz file", "skipped")
        )
    try:
        for path, reason in listing.aside:
            claimed = claim(path)
            if claimed is not None:
                results.append(_refuse(inbox, claimed, None, f"{path.name}: {reason}"))
        for path in listing.files:
            if stop is not None and stop.is_set():
                break
            claimed = claim(path)
            if claimed is None:
                log.info("inbox: %s was taken by another scanner; skipped", path.name)
                continue
            try:
                result = _take(store, inbox, claimed, max_decompressed_bytes)
            finally:
                if claimed.exists() or claimed.is_symlink():  # not done (database down, crash)
                    _move(claimed, inbox)
            results.append(result)
            if result.outcome == "deferred":
                break
    finally:
        with suppress(OSError):  # absent, or not empty after a failed move back
            _claim_folder(inbox).rmdir()
    return results


def _take(store: Store, inbox: Path, claimed: Path, limit: int | None) -> InboxResult:
    """Ingest one claimed file and move it to processed/ or failed/ (any failure)."""
    source: Source | None = None
    try:
        stream = _open_regular(claimed)
    except IngestError as error:
        return _refuse(inbox, claimed, None, str(error))
    try:
        with stream:
            source = _detect(stream, claimed.name)
            return _ingest(store, inbox, claimed, stream, source, limit)
    except StoreError as error:
        if not _answers(store):
            log.error("inbox: %s stays in the inbox, the database failed: %s", claimed.name, error)
            return InboxResult(claimed.name, None, source, None, str(error), "deferred")
        return _refuse(inbox, claimed, source, f"{claimed.name}: the database refused it: {error}")
    except StoremonError as error:
        return _refuse(inbox, claimed, source, str(error))
    except Exception as error:  # a poison file must never block the inbox
        log.exception("inbox: ingesting %s failed unexpectedly", claimed.name)
        return _refuse(
            inbox,
            claimed,
            source,
            f"{claimed.name}: could not be ingested because of an internal error "
            f"({type(error).__name__}: {str(error)[:200]}); see the log",
        )


def _ingest(
    store: Store, inbox: Path, claimed: Path, stream: IO[bytes], source: Source, limit: int | None
) -> InboxResult:
    read = read_files({source: stream}, names={source: claimed.name}, max_decompressed_bytes=limit)
    digest = read.parsed[source].sha256
    when = store.ingested_file(claimed.name, digest)
    if when is not None:
        read.close()
        moved = _move(claimed, inbox / PROCESSED)
        message = f"already ingested at {when:%Y-%m-%d %H:%M:%S} UTC (same name and contents)"
        log.info(
            "inbox: %s %s; moved to %s without ingesting it again", claimed.name, message, moved
        )
        return InboxResult(claimed.name, moved, source, None, message, "duplicate")
    summary = store_files(store, read)
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
    return InboxResult(claimed.name, moved, source, summary, None, "ingested")


def _refuse(inbox: Path, claimed: Path, source: Source | None, reason: str) -> InboxResult:
    """Move a claimed entry to failed/ with ``<name>.reason.txt`` beside it; log it once."""
    failed = _move(claimed, inbox / FAILED)
    failed.with_name(failed.name + ".reason.txt").write_text(f"{reason}\n", encoding="utf-8")
    log.warning("inbox: %s moved to %s: %s", claimed.name, failed, reason)
    return InboxResult(claimed.name, failed, source, None, reason, "failed")


def _open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file and no symbolic link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if path.is_symlink():
            raise IngestError(f"{path.name}: {_SYMLINK}") from None
        raise IngestError(f"{path.name}: cannot be read ({error.strerror or error})") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IngestError(f"{path.name}: {_SPECIAL}")
    return os.fdopen(descriptor, "rb")


def _answers(store: Store) -> bool:
    """Whether the database answers a simple query (so a failure was about the file)."""
    try:
        store.data_version()
    except StoremonError:
        return False
    return True


def _move(path: Path, directory: Path) -> Path:
    """Move ``path`` into ``directory``; an existing name gets a UTC time prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / path.name
    if target.exists() or target.is_symlink():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = directory / f"{stamp}-{path.name}"
    path.replace(target)
    return target


class InboxWatcher(Periodic):
    """Scans an inbox every ``interval_seconds`` in a daemon thread, until :meth:`stop`."""

    def __init__(
        self, store: Store, inbox_dir: str | os.PathLike[str], interval_seconds: float
    ) -> None:
        super().__init__(interval_seconds, "storemon-inbox", log)
        self.store = store
        self.inbox_dir = Path(inbox_dir)

    @property
    def scans(self) -> int:
        """Completed scans, for tests and status pages."""
        return self.runs

    def start(self) -> None:
        """Start scanning now, then every interval. Creates the inbox directory."""
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        super().start()

    def run_once(self) -> None:
        scan_inbox(self.store, self.inbox_dir, stop=self.stopping)

    def failure(self) -> str:
        return f"inbox: scanning {self.inbox_dir} failed"
