"""`storemon ingest`, `rejects`, `watch` and `db`: load CSV files into the database, inspect it."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Final, cast

import click
import typer

from storemon.cli.app import app
from storemon.config import get_settings
from storemon.ingest.inbox import InboxResult, InboxWatcher, scan_inbox
from storemon.ingest.service import IngestSummary, read_files, store_files
from storemon.schema import SOURCES, Source
from storemon.store import Store, open_store, redact_url

#: How many bad rows per file are shown on stderr (all are stored: `storemon rejects`).
SHOWN_REJECTS: Final = 5

_DB_HELP: Final = "Database URL [default: STOREMON_DB, duckdb:///storemon.duckdb]."
_FILE: Final = {"exists": True, "dir_okay": False, "readable": True}

DbOption = Annotated[str | None, typer.Option("--db", help=_DB_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _open(db: str | None) -> Store:
    return open_store(get_settings(db=db).db)


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
) -> None:
    """Load CSV files into the database, all of them in one transaction.

    Polls accumulate (the same store and instant twice: the later status wins);
    business hours and timezones replace what was stored for the stores in the
    file. Bad rows are skipped and kept with their line numbers (see `storemon
    rejects`). A file whose header lacks a column is refused and nothing is stored.
    """
    given = {"status": status, "hours": hours, "timezones": timezones}
    files = {cast(Source, source): path for source, path in given.items() if path is not None}
    if not files:
        raise click.UsageError(
            "give at least one file: --status FILE, --hours FILE and/or --timezones FILE"
        )
    read = read_files(files)  # a refused file fails here, before the database is opened
    store = _open(db)
    try:
        summary = store_files(store, read)
        version = store.data_version()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(summary.to_json()))
        return
    _print_summary(summary, version)


def _print_summary(summary: IngestSummary, version: int) -> None:
    for source, part in summary.sources.items():
        click.echo(
            f"{source}: {part.file}: {part.rows} rows, {part.loaded} loaded, "
            f"{part.rejected} rejected"
        )
        for line, reason in part.first_rejects[:SHOWN_REJECTS]:
            click.echo(f"{part.file}:{line}: {reason}", err=True)
        hidden = part.rejected - min(len(part.first_rejects), SHOWN_REJECTS)
        if hidden > 0:
            click.echo(
                f"{part.file}: ... and {hidden} more (storemon rejects --source {source})",
                err=True,
            )
    click.echo(f"done in {summary.seconds:.2f} s; data version {version}")


@app.command("rejects")
def rejects_command(
    db: DbOption = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source: status, hours or timezones.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List rejected rows kept by earlier ingests, newest ingest first."""
    if source is not None and source not in SOURCES:
        raise typer.BadParameter(
            f"{source!r}; use one of {', '.join(SOURCES)}", param_hint="'--source'"
        )
    store = _open(db)
    try:
        table = store.rejects(source=source, limit=limit)
    finally:
        store.close()
    rows = table.to_pylist()
    if as_json:
        for row in rows:
            row["ingested_at"] = row["ingested_at"].isoformat()
        click.echo(json.dumps({"rejects": rows}))
        return
    if not rows:
        click.echo("no rejected rows")
        return
    for row in rows:
        click.echo(f"{row['file']}:{row['line']}: {row['reason']}")
        when = f"{row['ingested_at']:%Y-%m-%d %H:%M:%S} UTC"
        click.echo(f"    {row['raw']!r} ({row['source']}, ingested {when})")


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
    """
    settings = get_settings(db=db, inbox_dir=inbox, inbox_interval_seconds=interval)
    store = open_store(settings.db)
    try:
        if once:
            settings.inbox_dir.mkdir(parents=True, exist_ok=True)
            results = scan_inbox(store, settings.inbox_dir)
            _print_results(results)
            if any(result.outcome == "deferred" for result in results):
                raise typer.Exit(1)  # the database failed: files stay for the next scan
            return
        logging.basicConfig(level="INFO", format="%(levelname)s:  %(name)s %(message)s")
        watcher = InboxWatcher(store, settings.inbox_dir, settings.inbox_interval_seconds)
        click.echo(
            f"watching {settings.inbox_dir} every {settings.inbox_interval_seconds:g} s "
            "(Ctrl-C to stop)",
            err=True,
        )
        _watch_until_signal(watcher)
    finally:
        store.close()


def _print_results(results: list[InboxResult]) -> None:
    if not results:
        click.echo("inbox: no new files")
    for result in results:
        if result.summary is not None and result.source is not None:
            part = result.summary.sources[result.source]
            click.echo(
                f"{result.name}: {result.source}, {part.rows} rows, {part.loaded} loaded, "
                f"{part.rejected} rejected -> {result.moved_to}"
            )
        elif result.outcome in ("skipped", "duplicate"):
            click.echo(f"{result.name}: {result.outcome}: {result.error}")
        else:
            click.echo(f"{result.name}: failed -> {result.moved_to}: {result.error}", err=True)


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
        click.echo("stopped", err=True)


@app.command("db")
def db_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show what the database holds: row counts, latest poll, data and schema version."""
    store = _open(db)
    try:
        counts = store.counts()
        latest = store.latest_poll_utc()
        info: dict[str, object] = {
            "url": redact_url(store.url),
            "schema_version": store.schema_version(),
            "data_version": store.data_version(),
            "latest_poll_utc": None if latest is None else latest.isoformat(),
            **counts,
        }
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(info))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
