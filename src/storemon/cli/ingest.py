"""`storemon ingest`, `rejects` and `watch`: load CSV files into the database, see what failed.

Everything printed from data (file names, reasons, raw rows) goes through
:func:`storemon.display.printable`, so a hostile file cannot drive the terminal.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Final

import typer

from storemon.cli._options import DbOption, JsonOption, check_source, load_settings, open_db
from storemon.cli._progress import IngestProgress
from storemon.cli.app import app
from storemon.display import printable

if TYPE_CHECKING:
    from storemon.ingest.inbox import InboxResult, InboxWatcher
    from storemon.ingest.service import IngestSummary
    from storemon.schema import Source

#: How many bad rows per file are shown on stderr (all are stored: `storemon rejects`).
SHOWN_REJECTS: Final = 5

_FILE: Final = {"exists": True, "dir_okay": False, "readable": True}


@app.command("ingest")
def ingest_command(
    db: DbOption = None,
    status: Annotated[
        Path | None, typer.Option(help="Status polls CSV (.csv or .csv.gz).", **_FILE)
    ] = None,
    hours: Annotated[
        Path | None, typer.Option(help="Business hours CSV (.csv or .csv.gz).", **_FILE)
    ] = None,
    timezones: Annotated[
        Path | None, typer.Option(help="Timezones CSV (.csv or .csv.gz).", **_FILE)
    ] = None,
    as_json: JsonOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")
    ] = False,
) -> None:
    """Load CSV files into the database, all of them in one transaction.

    Polls accumulate (the same store and instant twice: the later status wins);
    business hours and timezones replace what was stored for the stores in the
    file. Bad rows are skipped and kept with their line numbers (see `storemon
    rejects`). A file whose header lacks a column is refused and nothing is stored.
    Progress goes to stderr (a bar on a terminal, a line per file otherwise).
    """
    given: dict[Source, Path | None] = {"status": status, "hours": hours, "timezones": timezones}
    files = {source: path for source, path in given.items() if path is not None}
    if not files:
        raise typer.BadParameter(
            "give at least one file: --status FILE, --hours FILE and/or --timezones FILE",
            param_hint="'--status'",
        )
    from storemon.ingest.service import read_files, store_files

    progress = None if quiet or as_json else IngestProgress()
    try:  # a refused file fails here, before the database is opened
        read = read_files(files, progress=progress)  # an event per batch, one when stored
        try:
            store = open_db(db, create=True)
        except BaseException:
            read.close()
            raise
        try:
            summary = store_files(store, read)
            version = store.data_version()
        finally:
            store.close()
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
        return
    _print_summary(summary, version)


def _print_summary(summary: IngestSummary, version: int) -> None:
    for source, part in summary.sources.items():
        name = printable(part.file)
        typer.echo(
            f"{source}: {name}: {part.rows} rows, {part.loaded} loaded, {part.rejected} rejected"
        )
        for line, reason in part.first_rejects[:SHOWN_REJECTS]:
            typer.echo(f"{name}:{line}: {printable(reason)}", err=True)
        hidden = part.rejected - min(len(part.first_rejects), SHOWN_REJECTS)
        if hidden > 0:
            typer.echo(
                f"{name}: ... and {hidden} more (storemon rejects --source {source})", err=True
            )
    typer.echo(f"done in {summary.seconds:.2f} s; data version {version}")


@app.command("rejects")
def rejects_command(
    db: DbOption = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source: status, hours or timezones.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List rejected rows kept by earlier ingests, newest ingest first.

    Read-only: a database that does not exist is reported as such, not created.
    """
    wanted = check_source(source)
    store = open_db(db, create=False)
    from storemon.jobs.summary import fallback_warnings  # after the usage checks: numpy

    try:
        table = store.rejects(source=wanted, limit=limit)
        fallbacks = store.settings_fallbacks()
    finally:
        store.close()
    rows = table.to_pylist()
    warnings = [
        w
        for w in fallback_warnings(fallbacks)
        if wanted is None or str(w["message"]).endswith(f"{wanted})")
    ]
    if as_json:
        for row in rows:
            row["ingested_at"] = row["ingested_at"].isoformat()
        typer.echo(json.dumps({"rejects": rows, "fallbacks": warnings}))
        return
    for warning in warnings:  # what the rejects changed: stores left on default settings
        typer.echo(printable(str(warning["message"])))
    if not rows:
        typer.echo("no rejected rows")
        return
    for row in rows:
        typer.echo(f"{printable(row['file'])}:{row['line']}: {printable(row['reason'])}")
        when = f"{row['ingested_at']:%Y-%m-%d %H:%M:%S} UTC"
        typer.echo(f"    {printable(repr(row['raw']))} ({row['source']}, ingested {when})")


@app.command("watch")
def watch_command(
    db: DbOption = None,
    inbox: Annotated[
        Path | None,
        typer.Option(
            help="Inbox directory [default: STOREMON_INBOX_DIR, ./inbox].", file_okay=False
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            min=1.0, help="Seconds between scans [default: STOREMON_INBOX_INTERVAL_SECONDS, 3600]."
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Scan once and exit.")] = False,
) -> None:
    """Ingest CSV files dropped in the inbox directory, now and then every interval.

    Each file is recognised by its header, ingested in its own transaction and
    moved to processed/ (or failed/, with NAME.reason.txt). Write a file as
    NAME.csv.part and rename it when complete: .part files and dotfiles are ignored.
    Logs (STOREMON_LOG_LEVEL, STOREMON_LOG_FORMAT) go to stderr.
    """
    from storemon.ingest.inbox import InboxWatcher, scan_inbox
    from storemon.logs import configure_logging
    from storemon.store import redact_url

    settings = load_settings(
        uses=("db", "inbox_dir", "inbox_interval_seconds", "log_level", "log_format"),
        inbox_dir=inbox,
        inbox_interval_seconds=interval,
    )
    # With --once the results are printed below; only errors are also logged.
    configure_logging("error" if once else settings.log_level, settings.log_format)
    store = open_db(db, create=True)
    try:
        if once:
            settings.inbox_dir.mkdir(parents=True, exist_ok=True)
            results = scan_inbox(store, settings.inbox_dir)
            _print_results(results)
            if any(result.outcome in ("failed", "deferred") for result in results):
                raise typer.Exit(1)  # a file was refused, or the database failed (it stays)
            return
        logging.getLogger("storemon.watch").info(
            "storemon watch: database %s, inbox %s every %g s",
            redact_url(store.url),
            settings.inbox_dir.resolve(),
            settings.inbox_interval_seconds,
        )
        watcher = InboxWatcher(store, settings.inbox_dir, settings.inbox_interval_seconds)
        typer.echo(
            f"watching {printable(str(settings.inbox_dir))} every "
            f"{settings.inbox_interval_seconds:g} s (Ctrl-C to stop)",
            err=True,
        )
        _watch_until_signal(watcher)
    finally:
        store.close()


def _print_results(results: list[InboxResult]) -> None:
    if not results:
        typer.echo("inbox: no new files")
    for result in results:
        name = printable(result.name)
        if result.summary is not None and result.source is not None:
            part = result.summary.sources[result.source]
            typer.echo(
                f"{name}: {result.source}, {part.rows} rows, {part.loaded} loaded, "
                f"{part.rejected} rejected -> {printable(str(result.moved_to))}"
            )
        elif result.outcome in ("skipped", "duplicate"):
            typer.echo(f"{name}: {result.outcome}: {printable(str(result.error))}")
        else:
            typer.echo(
                f"{name}: failed -> {printable(str(result.moved_to))}: "
                f"{printable(str(result.error))}",
                err=True,
            )


def _watch_until_signal(watcher: InboxWatcher) -> None:
    """Run the watcher until SIGINT/SIGTERM, then stop it cleanly."""
    stopped = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    watcher.start()
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        watcher.stop()
        typer.echo("stopped", err=True)
