"""`storemon report`: the uptime/downtime report as CSV, computed from CSV files.

Sources are read by :func:`_read_sources`; a database source can sit beside it
(when ``--status`` is absent), the computation and the output stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

import click
import pyarrow as pa
import typer

from storemon.cli.app import app
from storemon.engine import compute_report, report_csv
from storemon.errors import InvalidRequest
from storemon.ingest.csv import ParsedFile, read_source
from storemon.ingest.timestamps import parse_instant
from storemon.schema import INTERPOLATIONS, SCHEMAS, Source, empty

#: How many bad rows per file are shown on stderr (all are counted).
SHOWN_REJECTS: Final = 5


@dataclass(frozen=True)
class _Sources:
    polls: pa.Table
    hours: pa.Table
    timezones: pa.Table


def _report_rejects(parsed: ParsedFile) -> None:
    """Bad rows of one file to stderr: a count, then the first few as ``file:line: reason``."""
    count = parsed.rejects.num_rows
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


def _parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error), param_hint="'--as-of'") from error


def _write(data: bytes, output: str) -> None:
    if output == "-":
        click.echo(data, nl=False)
        return
    try:
        Path(output).write_bytes(data)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot write {output}: {error.strerror}", param_hint="'--output'"
        ) from error


@app.command()
def report(
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

    Bad input rows are skipped and reported on stderr as file:line: reason.
    """
    if interpolation not in INTERPOLATIONS:
        raise typer.BadParameter(
            f"'{interpolation}' is not one of 'nearest', 'previous'",
            param_hint="'--interpolation'",
        )
    instant = _parse_as_of(as_of)
    if status is None:
        raise typer.BadParameter(
            "give the status polls CSV, e.g. --status store_status.csv", param_hint="'--status'"
        )
    sources = _read_sources(status, hours, timezones)
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
