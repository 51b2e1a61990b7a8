"""`storemon outages` and `storemon profile`: SPEC Part 2's outage list and downtime profile
as CSV, from CSV files or the database (the inputs of :mod:`storemon.cli._outputs`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

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
    WindowOption,
    compute,
    window,
)
from storemon.cli.app import app
from storemon.display import printable

if TYPE_CHECKING:
    from storemon.jobs.outputs import ComputedOutput, JobSpec
    from storemon.schema import Interpolation


def _compute(
    output: Literal["outages", "profile"],
    window_text: str,
    db: str | None,
    status: Path | None,
    hours: Path | None,
    timezones: Path | None,
    as_of: str | None,
    interpolation: str,
    store: str | None = None,
    cluster: str | None = None,
    partitions: int | None = None,
) -> tuple[ComputedOutput, JobSpec, Interpolation]:
    """The output of one window, from the files or the database; usage errors exit 2."""
    from storemon.jobs.outputs import JobSpec

    mode = check_interpolation(interpolation)
    spec = JobSpec(output=output, window=window(window_text))
    result = compute(
        spec,
        db=db,
        status=status,
        hours=hours,
        timezones=timezones,
        as_of=parse_as_of(as_of),
        interpolation=mode,
        store_id=store,
        cluster=cluster,
        partitions=partitions,
    )
    return result, spec, mode


@app.command()
def outages(
    db: DbOption = None,
    status: StatusOption = None,
    hours: HoursOption = None,
    timezones: TimezonesOption = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Only this store (its id exactly) [default: every store]."),
    ] = None,
    window_text: WindowOption = "168h",
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    output: OutputOption = "-",
    cluster: ClusterOption = None,
    partitions: PartitionsOption = None,
) -> None:
    """Write the outage list (SPEC Part 2) as CSV: every outage overlapping the window,
    clipped to it, by store then start (store_id, start_utc, end_utc, duration_minutes,
    ongoing)."""
    result, spec, mode = _compute(
        "outages",
        window_text,
        db,
        status,
        hours,
        timezones,
        as_of,
        interpolation,
        store,
        cluster,
        partitions,
    )
    write_output(result.csv, output)
    if result.as_of_used is None:
        typer.echo("no polls at or before as_of: no outages", err=True)
        return
    when = result.as_of_used.strftime("%Y-%m-%d %H:%M:%S UTC")
    whose = "every store" if store is None else printable(store)
    typer.echo(
        f"outages: {result.row_count} in the last {spec.window.text} of {whose} as of "
        f"{when} ({mode})",
        err=True,
    )


@app.command()
def profile(
    db: DbOption = None,
    status: StatusOption = None,
    hours: HoursOption = None,
    timezones: TimezonesOption = None,
    window_text: WindowOption = "168h",
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    output: OutputOption = "-",
    cluster: ClusterOption = None,
    partitions: PartitionsOption = None,
) -> None:
    """Write the downtime profile (SPEC Part 2) as CSV: business hours, uptime and downtime
    of all stores by local weekday and hour, 168 rows, Monday 00 first."""
    result, spec, mode = _compute(
        "profile",
        window_text,
        db,
        status,
        hours,
        timezones,
        as_of,
        interpolation,
        None,
        cluster,
        partitions,
    )
    write_output(result.csv, output)
    if result.as_of_used is None:
        typer.echo("no polls at or before as_of: the profile is empty", err=True)
        return
    when = result.as_of_used.strftime("%Y-%m-%d %H:%M:%S UTC")
    typer.echo(f"profile: the last {spec.window.text} as of {when} ({mode})", err=True)
