"""What `report`, `outages` and `profile` share: where the inputs come from (CSV files or
the database), how an output is computed (the jobs layer, as a server's job does), and
what is said on stderr about it.

With ``--status`` the inputs are read straight from CSV files (no database); without
it from the database (``--db`` or ``STOREMON_DB``), never creating one. Each command
builds a :class:`~storemon.jobs.outputs.JobSpec`; the output, its CSV and its warnings
are the same as a server's job gives for the same spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from storemon.cli._options import db_url, open_db
from storemon.display import printable

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from storemon.engine.options import Window
    from storemon.ingest.csv import FileRead
    from storemon.jobs.outputs import ComputedOutput, JobSpec
    from storemon.schema import Interpolation, Source

#: How many bad rows per file are shown on stderr (all are counted).
SHOWN_REJECTS: Final = 5

_CSV_FILE: Final = {"exists": True, "dir_okay": False}

StatusOption = Annotated[
    Path | None,
    typer.Option(
        "--status",
        help="Status polls CSV (store_id, status, timestamp_utc); .gz allowed. "
        "Without it the inputs are read from the database.",
        **_CSV_FILE,
    ),
]
HoursOption = Annotated[
    Path | None,
    typer.Option(
        "--hours",
        help="Business hours CSV (store_id, dayOfWeek, start_time_local, end_time_local) "
        "[default: none, every store open 24x7].",
        **_CSV_FILE,
    ),
]
TimezonesOption = Annotated[
    Path | None,
    typer.Option(
        "--timezones",
        help="Timezones CSV (store_id, timezone_str) [default: none, America/Chicago].",
        **_CSV_FILE,
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Compute on a Dask cluster: 'local' (worker processes on this machine, one "
        "per core), 'local:N' (N workers) or 'tcp://HOST:PORT' (a running `dask "
        "scheduler`). Workers read their stores straight from the database (a DuckDB "
        "file read-only, by each task: do not write it meanwhile; docs/scaling.md).",
        show_default=False,
    ),
]
PartitionsOption = Annotated[
    int | None,
    typer.Option(
        "--partitions",
        help="Cut the stores into this many ranges of ids, computed one after the other "
        "(memory follows one range, not the fleet) or, with --cluster, in parallel "
        "[default: 1; with --cluster, two per worker thread].",
        show_default=False,
    ),
]
WindowOption = Annotated[
    str,
    typer.Option(
        "--window",
        help="The window, <N>m, <N>h, <N>d or <N>w (at most 366 days).",
    ),
]


def _report_rejects(parsed: FileRead) -> None:
    """Bad rows of one file to stderr: a count, then the first few as ``file:line: reason``."""
    count = parsed.rejected  # all counted; at most MAX_REJECTS_KEPT are kept
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


def check_inputs(
    db: str | None, status: Path | None, hours: Path | None, timezones: Path | None
) -> None:
    """Usage errors: files and a database at once, or hours/zones without polls."""
    if status is not None and db is not None:
        raise typer.BadParameter(
            "give either CSV files (--status ...) or a database (--db), not both",
            param_hint="'--db'",
        )
    if status is None and (hours is not None or timezones is not None):
        raise typer.BadParameter(
            "--hours and --timezones go with --status; to compute from the database, "
            "ingest them first (storemon ingest)",
            param_hint="'--status'",
        )


def check_scale(
    cluster: str | None, partitions: int | None, status: Path | None, store_id: str | None
) -> None:
    """Usage errors of --cluster and --partitions (exit 2), saying what to write."""
    from storemon.jobs.partitioned import MAX_PARTITIONS

    if partitions is not None and not 1 <= partitions <= MAX_PARTITIONS:
        raise typer.BadParameter(
            f"{partitions} is not a number of partitions: write a whole number from 1 to "
            f"{MAX_PARTITIONS:,}, e.g. --partitions 8",
            param_hint="'--partitions'",
        )
    if cluster is not None:
        from storemon.clusters import parse_cluster
        from storemon.errors import ConfigError

        try:
            parse_cluster(cluster)
        except ConfigError as error:
            raise typer.BadParameter(str(error), param_hint="'--cluster'") from None
    if cluster is None and partitions is None:
        return
    flag = "'--cluster'" if cluster is not None else "'--partitions'"
    if status is not None:
        raise typer.BadParameter(
            "--cluster and --partitions compute from the database: drop --status, or "
            "ingest the files first (storemon ingest)",
            param_hint=flag,
        )
    if store_id is not None:
        raise typer.BadParameter(
            "--store computes one store: drop --cluster and --partitions", param_hint=flag
        )


def window(text: str) -> Window:
    """The ``--window`` value, or a usage error saying what to write."""
    from storemon.engine.options import parse_window
    from storemon.errors import InvalidRequest

    try:
        return parse_window(text)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error), param_hint="'--window'") from None


def compute(
    spec: JobSpec,
    *,
    db: str | None,
    status: Path | None,
    hours: Path | None,
    timezones: Path | None,
    as_of: datetime | None,
    interpolation: Interpolation,
    store_id: str | None = None,
    cluster: str | None = None,
    partitions: int | None = None,
) -> ComputedOutput:
    """The output of ``spec`` on the files or the database (on a Dask ``cluster``, or in
    ``partitions`` ranges of stores); an unknown ``store_id`` is a usage error (exit 2)."""
    from storemon.errors import UnknownStore
    from storemon.jobs.outputs import output_of_store
    from storemon.store.base import StoreRange

    check_inputs(db, status, hours, timezones)
    check_scale(cluster, partitions, status, store_id)
    try:
        if status is not None:
            done = _from_files(
                spec,
                {"status": status, "hours": hours, "timezones": timezones},
                as_of=as_of,
                interpolation=interpolation,
                store_id=store_id,
            )
        elif cluster is not None:  # the workers open the database, this process does not
            done = _on_cluster(db_url(db), spec, as_of, interpolation, cluster, partitions)
        else:
            store = open_db(db, create=False)
            try:
                chosen = None if store_id is None else StoreRange.one(store_id)
                if partitions is not None:
                    from storemon.jobs.partitioned import partitioned_output

                    done = partitioned_output(
                        store,
                        spec,
                        as_of=as_of,
                        interpolation=interpolation,
                        partitions=partitions,
                    )
                else:
                    done = output_of_store(
                        store, spec, as_of=as_of, interpolation=interpolation, stores=chosen
                    )
            finally:
                store.close()
        if store_id is not None and done.as_of_used is None:
            raise UnknownStore(store_id)
    except UnknownStore as error:
        raise typer.BadParameter(printable(str(error)), param_hint="'--store'") from None
    return done


def _from_files(
    spec: JobSpec,
    paths: dict[Source, Path | None],
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    store_id: str | None,
) -> ComputedOutput:
    """The output of the CSV files: in memory when the valid polls fit the setting
    ``STOREMON_CSV_MEMORY_BYTES``, else from the reader's temporary file, cut into ranges
    of stores computed one at a time (:mod:`storemon.jobs.file_parts`)."""
    from storemon.config import get_settings
    from storemon.ingest.service import read_files
    from storemon.jobs import file_parts
    from storemon.jobs.outputs import compute_output
    from storemon.jobs.summary import fallbacks_of
    from storemon.schema import REJECTS, SCHEMAS, empty

    limit = get_settings(uses=("csv_memory_bytes",)).csv_memory_bytes
    given = {source: path for source, path in paths.items() if path is not None}
    with read_files(given, refuse_empty=False, memory_bytes=limit) as read:
        for part in read.parsed.values():
            _report_rejects(part)

        def rows(source: Source) -> tuple[pa.Table, pa.Table]:
            part = read.parsed.get(source)
            if part is None:
                return empty(SCHEMAS[source]), empty(REJECTS)
            return part.valid.table(), part.rejects

        hours, hours_rejects = rows("hours")
        zones, zone_rejects = rows("timezones")
        status = read.parsed["status"]
        if not status.valid.spilled:
            polls, _ = rows("status")
            if store_id is not None:
                from storemon.engine.run import only_store

                polls, as_of = only_store(polls, store_id, as_of)
        elif store_id is not None:
            polls, latest = file_parts.one_store(status.tables(), store_id)
            as_of = latest if as_of is None else as_of
        else:
            parts = file_parts.parts_for(status.valid.rows)
            typer.echo(
                f"{spec.output}: {status.valid.rows:,} valid polls are more than "
                "STOREMON_CSV_MEMORY_BYTES holds in memory: computed in "
                f"{parts:,} ranges of stores, one at a time (on disk in TMPDIR)",
                err=True,
            )
            return file_parts.output_in_parts(
                status.tables,
                parts,
                hours,
                hours_rejects,
                zones,
                zone_rejects,
                spec=spec,
                as_of=as_of,
                interpolation=interpolation,
            )
    return compute_output(
        polls,
        hours,
        zones,
        spec=spec,
        as_of=as_of,
        interpolation=interpolation,
        fallbacks=fallbacks_of(polls.column("store_id"), hours, hours_rejects, zones, zone_rejects),
    )


def _on_cluster(
    url: str,
    spec: JobSpec,
    as_of: datetime | None,
    interpolation: Interpolation,
    cluster: str,
    partitions: int | None,
) -> ComputedOutput:
    """The output computed on the Dask cluster (started and stopped here if local)."""
    from storemon.config import get_settings
    from storemon.jobs.dask_compute import DaskCompute

    settings = get_settings(uses=("cluster_timeout_seconds", "cluster_export_dir"))
    on_cluster = DaskCompute(
        cluster,
        partitions=partitions,
        timeout_seconds=settings.cluster_timeout_seconds,
        export_dir=settings.cluster_export_dir,
    )
    try:
        return on_cluster.output_of_database(url, spec, as_of=as_of, interpolation=interpolation)
    finally:
        on_cluster.close()


def say_warnings(done: ComputedOutput) -> None:
    """Each warning of the output's summary on stderr."""
    import json

    from storemon.jobs.summary import stored_warnings

    for _, message in stored_warnings(json.dumps(done.summary, default=str)):
        typer.echo(f"warning: {printable(message)}", err=True)
