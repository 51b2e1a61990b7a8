"""`storemon report`: the uptime/downtime report as CSV, from CSV files or the database.

With ``--status`` the inputs are read straight from CSV files (no database);
without it they are read in bulk from the database (``--db`` or ``STOREMON_DB``).
The computation and the output are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

import click
import pyarrow as pa
import typer

from storemon.cli._files import replace_file
from storemon.cli.app import app
from storemon.config import get_settings
from storemon.engine import compute_report, report_csv
from storemon.errors import InvalidRequest
from storemon.ingest.csv import ParsedFile, read_source
from storemon.ingest.timestamps import parse_instant
from storemon.schema import INTERPOLATIONS, SCHEMAS, Source, empty
from storemon.store import open_store

#: How many bad rows per file are shown on stderr (all are counted).
SHOWN_REJECTS: Final = 5


@dataclass(frozen=True)
class _Sources:
    polls: pa.Table
    hours: pa.Table
    timezones: pa.Table


def _report_rejects(parsed: ParsedFile) -> None:
    """Bad rows of one file to stderr: a count, then the first few as ``file:line: reason``."""
    count = parsed.rejected  # all counted; at most MAX_REJECTS_KEPT are kept
    if count == 0:
        return
    noun = "row" if count == 1 else "rows"
    click.echo(f"{parsed.file}: skipped {count} bad {noun} of {parsed.rows}", err=True)
    shown = parsed.rejects.slice(0, SHOWN_REJECTS).to_pylist()
    for reject in shown:
        click.echo(f"{reject['file']}:{reject['line']}: {reject['reason']}", err=True)
    if count > len(shown):
        click.echo(f"{parsed.file}: ... and {count - len(shown)} more", err=True)


def _read(source: Source, path: Path | None) -> pa.Table:
    if path is None:
        return empty(SCHEMAS[source])
    parsed = read_source(source, path)
    _report_rejects(parsed)
    return parsed.table


def _read_sources(status: Path, hours: Path | None, timezones: Path | None) -> _Sources:
    return _Sources(_read("status", status), _read("hours", hours), _read("timezones", timezones))


def _load_sources(db: str | None, as_of: datetime | None) -> tuple[_Sources, datetime | None]:
    """The report's inputs from the database, and the as_of it resolved (latest poll if None)."""
    store = open_store(get_settings(db=db).db)
    try:
        inputs = store.report_inputs(as_of)
    finally:
        store.close()
    return _Sources(inputs.polls, inputs.hours, inputs.timezones), inputs.as_of


def _parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error), param_hint="'--as-of'") from error


def _write(data: bytes, output: str) -> None:
    """Write the CSV to ``output``: '-' is stdout; a file is replaced only once the new
    report is complete (a failed write leaves the previous one whole)."""
    if output == "-":
        click.echo(data, nl=False)
        return
    try:
        replace_file(Path(output), data)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot write {output}: {error.strerror}", param_hint="'--output'"
        ) from error


@app.command()
def report(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL to read from when --status is not given "
            "[default: STOREMON_DB, duckdb:///storemon.duckdb].",
        ),
    ] = None,
    status: Annotated[
        Path | None,
        typer.Option(
            help="Status polls CSV (store_id, status, timestamp_utc); .gz allowed.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    hours: Annotated[
        Path | None,
        typer.Option(
            help="Business hours CSV (store_id, dayOfWeek, start_time_local, end_time_local) "
            "[default: none, every store open 24x7].",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    timezones: Annotated[
        Path | None,
        typer.Option(
            help="Timezones CSV (store_id, timezone_str) [default: none, America/Chicago].",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="'Now' for the report, e.g. '2023-01-25 18:00:00 UTC' [default: the latest poll].",
        ),
    ] = None,
    interpolation: Annotated[
        str,
        typer.Option(
            help="State between polls: 'nearest' poll, or 'previous' poll (sample and hold).",
        ),
    ] = "nearest",
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write the CSV; '-' is stdout.")
    ] = "-",
) -> None:
    """Compute the uptime/downtime report (SPEC.md) and write it as CSV.

    With --status, from CSV files: bad input rows are skipped and reported on
    stderr as file:line: reason. Without it, from the database (see `storemon ingest`).
    """
    if interpolation not in INTERPOLATIONS:
        raise typer.BadParameter(
            f"'{interpolation}' is not one of 'nearest', 'previous'",
            param_hint="'--interpolation'",
        )
    instant = _parse_as_of(as_of)
    if status is not None:
        if db is not None:
            raise typer.BadParameter(
                "give either CSV files (--status ...) or a database (--db), not both",
                param_hint="'--db'",
            )
        sources = _read_sources(status, hours, timezones)
    elif hours is not None or timezones is not None:
        raise typer.BadParameter(
            "--hours and --timezones go with --status; to report from the database, "
            "ingest them first (storemon ingest)",
            param_hint="'--status'",
        )
    else:
        sources, instant = _load_sources(db, instant)
    result = compute_report(
        sources.polls,
        sources.hours,
        sources.timezones,
        as_of=instant,
        interpolation=interpolation,
    )
    _write(report_csv(result.table), output)
    if result.as_of is None:
        click.echo("no polls at or before as_of: the report has no rows", err=True)
    else:
        stores = result.table.num_rows
        noun = "store" if stores == 1 else "stores"
        when = result.as_of.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        click.echo(f"report: {stores} {noun} as of {when} ({interpolation})", err=True)
