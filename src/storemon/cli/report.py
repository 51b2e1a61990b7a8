"""`storemon report`: the uptime/downtime report as CSV, from CSV files or the database.

The inputs and the computation are those of :mod:`storemon.cli._outputs` (the jobs
layer computes exactly what a server's job computes); ``--windows``, ``--extended``,
``--observed-within`` and ``--unobserved`` choose SPEC Part 2's windows and columns.
The ``--output`` file is only replaced by a complete report.
"""

from __future__ import annotations

from typing import Annotated

import typer

from storemon.cli._options import (
    AsOfOption,
    DbOption,
    InterpolationOption,
    OutputOption,
    check_interpolation,
    parse_as_of,
    write_output,
)
from storemon.cli._outputs import (
    ClusterOption,
    HoursOption,
    PartitionsOption,
    StatusOption,
    TimezonesOption,
    compute,
    say_warnings,
)
from storemon.cli.app import app

_HINTS = (("observed_within", "'--observed-within'"), ("unobserved", "'--unobserved'"))


@app.command()
def report(
    db: DbOption = None,
    status: StatusOption = None,
    hours: HoursOption = None,
    timezones: TimezonesOption = None,
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    windows: Annotated[
        str,
        typer.Option(
            "--windows",
            help="Comma-separated windows, <N>m, <N>h, <N>d or <N>w (at most 366 days); "
            "columns follow the order.",
        ),
    ] = "1h,24h,168h",
    extended: Annotated[
        bool,
        typer.Option(
            "--extended",
            help="Add unobserved_*, outages_* and longest_outage_* for every window.",
        ),
    ] = False,
    observed_within: Annotated[
        float,
        typer.Option(
            "--observed-within",
            help="Minutes either side of a poll that it observes (unobserved_* and "
            "--unobserved exclude).",
        ),
    ] = 60.0,
    unobserved: Annotated[
        str,
        typer.Option(
            "--unobserved",
            help="'extrapolate' (unobserved time still counts as uptime or downtime) or "
            "'exclude' (three-state: up + down + unobserved = business time).",
        ),
    ] = "extrapolate",
    output: OutputOption = "-",
    cluster: ClusterOption = None,
    partitions: PartitionsOption = None,
) -> None:
    """Compute the uptime/downtime report (SPEC.md) and write it as CSV.

    With --status, from CSV files: bad input rows are skipped and reported on
    stderr as file:line: reason. Without it, from the database (see `storemon
    ingest`); a database that does not exist is an error, never created.
    """
    from storemon.engine.options import report_options
    from storemon.errors import InvalidRequest
    from storemon.jobs.outputs import JobSpec

    mode = check_interpolation(interpolation)
    instant = parse_as_of(as_of)
    try:
        options = report_options(
            windows=windows,
            extended=extended,
            observed_within_minutes=observed_within,
            unobserved=unobserved,
        )
    except InvalidRequest as error:  # its message starts with what it is about
        text = str(error)
        hint = next((flag for word, flag in _HINTS if text.startswith(word)), "'--windows'")
        raise typer.BadParameter(text, param_hint=hint) from None
    result = compute(
        JobSpec(options=options),
        db=db,
        status=status,
        hours=hours,
        timezones=timezones,
        as_of=instant,
        interpolation=mode,
        cluster=cluster,
        partitions=partitions,
    )
    write_output(result.csv, output)
    say_warnings(result)
    if result.as_of_used is not None:
        noun = "store" if result.row_count == 1 else "stores"
        when = result.as_of_used.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        typer.echo(f"report: {result.row_count} {noun} as of {when} ({mode})", err=True)
