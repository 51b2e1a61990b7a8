"""`storemon demo`: load the bundled demo data into an empty database.

By default the polls are a generated, deterministic week ending
2023-01-25 18:13 UTC, the period of the original data set: every example in the
README and docs (all in January 2023) then gives rows, and the same figures on
every machine. ``--end now`` generates a week ending now, for a demo that looks live.
"""

from __future__ import annotations

from typing import Annotated, Final

import typer

from storemon.cli._options import DbOption, open_db
from storemon.cli.app import app
from storemon.display import printable

#: The end of the original data set's polls (its latest is 2023-01-25 18:13:22 UTC).
DEMO_END: Final = "2023-01-25 18:13:00 UTC"


@app.command("demo")
def demo_command(
    db: DbOption = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="Load the demo data even if the database has polls. They are added to "
            "what is there (a poll at the same store and instant takes the demo's status; "
            "the demo stores' hours and timezones are replaced); nothing is deleted. "
            "For a clean demo use a new database (--db duckdb:///demo.duckdb).",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", hidden=True)] = False,
    days: Annotated[
        float, typer.Option(min=0.05, max=60, help="Days of polls to generate, up to --end.")
    ] = 8.0,
    end: Annotated[
        str,
        typer.Option(
            help="End of the generated polls: a timestamp, or 'now' for a demo that looks live.",
        ),
    ] = DEMO_END,
    seed: Annotated[int, typer.Option(help="Seed of the poll generator.")] = 42,
) -> None:
    """Load the demo data into the database, unless it already has polls.

    The demo data are the real business hours and timezones of 13,584 stores
    (bundled with storemon) and realistic polls generated for them: by default
    the week up to 2023-01-25 18:13 UTC, the same on every machine, so the
    documented examples (as_of in January 2023) give the documented figures.
    """
    if force:
        raise typer.BadParameter(
            "--force is now --merge: it adds the demo polls to those in the database "
            "(nothing is replaced or deleted). For a clean demo, load it into a new "
            "database: storemon demo --db duckdb:///demo.duckdb",
            param_hint="'--force'",
        )
    from storemon.cli.generate import end_instant

    end_at = end_instant(end, days)
    from storemon import demo_data
    from storemon.generate import demo_polls, polls_csv
    from storemon.ingest.service import ingest
    from storemon.store import redact_url

    store = open_db(db, create=True)
    try:
        url = printable(redact_url(store.url))
        polls = store.counts().get("polls", 0)
        if polls and not merge:
            typer.echo(
                f"{url} already has {polls:,} polls; demo data not loaded "
                "(--merge adds them anyway; --db names another database)"
            )
            return
        when = f"{end_at:%Y-%m-%d %H:%M} UTC"
        typer.echo(f"generating {days:g} days of polls up to {when} (seed {seed}) ...", err=True)
        table = demo_polls(end=end_at, days=days, seed=seed)
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
    typer.echo(f"demo data loaded into {url}: {loaded} rows ({summary.seconds:.1f} s)")
