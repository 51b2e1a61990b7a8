"""`storemon demo`: load the bundled demo data into an empty database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from storemon import demo_data
from storemon.cli.app import app
from storemon.config import get_settings
from storemon.generate import demo_polls, polls_csv
from storemon.ingest.service import ingest
from storemon.store import open_store, redact_url


@app.command("demo")
def demo_command(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL [default: STOREMON_DB, duckdb:///storemon.duckdb]."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Load the demo data even if the database has polls.")
    ] = False,
    days: Annotated[
        float, typer.Option(min=0.05, max=60, help="Days of polls to generate, ending now.")
    ] = 8.0,
    seed: Annotated[int, typer.Option(help="Seed of the poll generator.")] = 42,
) -> None:
    """Load the demo data into the database, unless it already has polls.

    The demo data are the real business hours and timezones of 13,584 stores
    (bundled with storemon) and realistic polls generated for them, ending now.
    """
    url = get_settings(db=db).db
    store = open_store(url)
    try:
        polls = store.counts().get("polls", 0)
        if polls and not force:
            typer.echo(f"{redact_url(url)} already has {polls:,} polls; demo data not loaded.")
            return
        typer.echo(f"generating {days:g} days of polls ending now (seed {seed}) ...", err=True)
        table = demo_polls(end=datetime.now(UTC), days=days, seed=seed)
        summary = ingest(
            store,
            {
                "status": polls_csv(table),
                "hours": demo_data.hours_path(),
                "timezones": demo_data.timezones_path(),
            },
            names={"status": "demo-status.csv"},
        )
    finally:
        store.close()
    loaded = ", ".join(f"{part.loaded:,} {source}" for source, part in summary.sources.items())
    typer.echo(f"demo data loaded into {redact_url(url)}: {loaded} rows ({summary.seconds:.1f} s)")
