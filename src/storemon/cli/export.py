"""`storemon export --parquet DIR`: the database's polls, hours and zones as a Parquet
dataset sorted and split by store id (:mod:`storemon.store.parquet`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storemon.cli._options import DbOption, open_db
from storemon.cli.app import app


@app.command()
def export(
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet",
            help="Directory to write (new or empty): manifest.json, then polls/, hours/ "
            "and timezones/ with one part-NNNNN.parquet per range of store ids.",
            file_okay=False,
        ),
    ],
    db: DbOption = None,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            help="How many ranges of store ids (files per table); each is read and "
            "written on its own, so memory follows one range.",
        ),
    ] = 1,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace what the directory holds.")
    ] = False,
) -> None:
    """Export the stored polls (all of them), business hours and timezones as Parquet,
    sorted by store id (byte order) and split into ranges named in manifest.json:
    readers such as Dask, DuckDB or pandas get known divisions without a shuffle.
    """
    from storemon.cli._outputs import check_scale
    from storemon.jobs.partitioned import partition_ranges
    from storemon.store.parquet import export_parquet

    check_scale(None, partitions, None, None)
    store = open_db(db, create=False)
    try:
        ranges = partition_ranges(store.store_splits(partitions))
        manifest = export_parquet(store, parquet, ranges, replace=replace)
    finally:
        store.close()
    polls = sum(manifest.polls)
    typer.echo(
        f"export: {polls:,} polls in {len(manifest.ranges)} part(s) to {parquet} "
        f"(data version {manifest.data_version})",
        err=True,
    )
