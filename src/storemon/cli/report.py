"""`storemon report`: the uptime/downtime report as CSV, from CSV files or the database.

With ``--status`` the inputs are read straight from CSV files (no database);
without it the jobs layer reads them from the database (``--db`` or
``STOREMON_DB``) and computes the report exactly as a server's job does. The
computation and the output are the same either way. Reading the database never
creates one, and the ``--output`` file is only replaced by a complete report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from storemon.cli._options import (
    AsOfOption,
    DbOption,
    InterpolationOption,
    OutputOption,
    check_interpolation,
    open_db,
    parse_as_of,
    write_output,
)
from storemon.cli.app import app
from storemon.display import printable

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from storemon.ingest.csv import ParsedFile
    from storemon.jobs import ComputedReport
    from storemon.schema import Interpolation, Source

#: How many bad rows per file are shown on stderr (all are counted).
SHOWN_REJECTS: Final = 5

_CSV_FILE: Final = {"exists": True, "dir_okay": False}


def _report_rejects(parsed: ParsedFile) -> None:
    """Bad rows of one file to stderr: a count, then the first few as ``file:line: reason``."""
    count = parsed.rejects.num_rows
    if count == 0:
        return
    noun = "row" if count == 1 else "rows"
    name = printable(parsed.file)
    typer.echo(f"{name}: skipped {count} bad {noun} of {parsed.rows}", err=True)
    shown = parsed.rejects.slice(0, SHOWN_REJECTS).to_pylist()
    for reject in shown:
        typer.echo(
            f"{printable(reject['file'])}:{reject['line']}: {printable(reject['reason'])}",
            err=True,
        )
    if count > len(shown):
        typer.echo(f"{name}: ... and {count - len(shown)} more", err=True)


def _read(source: Source, path: Path | None) -> pa.Table:
    from storemon.ingest.csv import read_source
    from storemon.schema import SCHEMAS, empty

    if path is None:
        return empty(SCHEMAS[source])
    parsed = read_source(source, path)
    _report_rejects(parsed)
    return parsed.table


def _from_files(
    status: Path,
    hours: Path | None,
    timezones: Path | None,
    as_of: datetime | None,
    interpolation: Interpolation,
) -> ComputedReport:
    """The report of CSV files: each file read and validated, then the engine."""
    from storemon.engine import compute_report, report_csv
    from storemon.jobs import ComputedReport

    polls, hours_table, zones = (
        _read("status", status),
        _read("hours", hours),
        _read("timezones", timezones),
    )
    report = compute_report(polls, hours_table, zones, as_of=as_of, interpolation=interpolation)
    return ComputedReport(report_csv(report.table), report.table.num_rows, report.as_of)


def _from_database(
    db: str | None, as_of: datetime | None, interpolation: Interpolation
) -> ComputedReport:
    """The report of the database, computed by the jobs layer as a server's job is."""
    from storemon.jobs import compute_with_engine

    store = open_db(db, create=False)
    try:
        return compute_with_engine(store, as_of, interpolation)
    finally:
        store.close()


@app.command()
def report(
    db: DbOption = None,
    status: Annotated[
        Path | None,
        typer.Option(
            help="Status polls CSV (store_id, status, timestamp_utc); .gz allowed. "
            "Without it the report is read from the database.",
            **_CSV_FILE,
        ),
    ] = None,
    hours: Annotated[
        Path | None,
        typer.Option(
            help="Business hours CSV (store_id, dayOfWeek, start_time_local, end_time_local) "
            "[default: none, every store open 24x7].",
            **_CSV_FILE,
        ),
    ] = None,
    timezones: Annotated[
        Path | None,
        typer.Option(
            help="Timezones CSV (store_id, timezone_str) [default: none, America/Chicago].",
            **_CSV_FILE,
        ),
    ] = None,
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    output: OutputOption = "-",
) -> None:
    """Compute the uptime/downtime report (SPEC.md) and write it as CSV.

    With --status, from CSV files: bad input rows are skipped and reported on
    stderr as file:line: reason. Without it, from the database (see `storemon
    ingest`); a database that does not exist is an error, never created.
    """
    mode = check_interpolation(interpolation)
    instant = parse_as_of(as_of)
    if status is not None:
        if db is not None:
            raise typer.BadParameter(
                "give either CSV files (--status ...) or a database (--db), not both",
                param_hint="'--db'",
            )
        result = _from_files(status, hours, timezones, instant, mode)
    elif hours is not None or timezones is not None:
        raise typer.BadParameter(
            "--hours and --timezones go with --status; to report from the database, "
            "ingest them first (storemon ingest)",
            param_hint="'--status'",
        )
    else:
        result = _from_database(db, instant, mode)
    write_output(result.csv, output)
    if result.as_of_used is None:
        typer.echo("no polls at or before as_of: the report has no rows", err=True)
    else:
        noun = "store" if result.row_count == 1 else "stores"
        when = result.as_of_used.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        typer.echo(f"report: {result.row_count} {noun} as of {when} ({mode})", err=True)
