"""`storemon prune`: remove old polls, whole UTC weeks, keeping what reports need."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from storemon.cli._options import DbOption, JsonOption, open_db
from storemon.cli.app import app


@app.command("prune")
def prune_command(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Remove polls older than this before the latest poll: <N>h, <N>d or <N>w "
            "(e.g. 30d, 8w). Whole UTC weeks (Monday 00:00) go: the cut is rounded down to one.",
        ),
    ],
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow a cut less than 7 days before the latest poll."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove old polls: PostgreSQL drops whole weekly partitions, DuckDB deletes rows.

    Each store's last poll before the cut is kept (a report extrapolates the state at
    the start of its window from it), so every report whose window starts after the
    cut is unchanged. All or nothing: a failure leaves the database as it was. The data
    version changes only when a poll was removed.
    """
    from storemon.errors import InvalidRequest
    from storemon.store.retention import check_older_than, parse_older_than, prune

    try:
        age = parse_older_than(older_than)
        check_older_than(age, force=force)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error), param_hint="'--older-than'") from None
    store = open_db(db, create=False)
    try:
        if not as_json:
            typer.echo(
                f"{'counting' if dry_run else 'pruning'} polls older than {older_than.strip()}"
                " before the latest poll ...",
                err=True,
            )
        result = prune(store, age, dry_run=dry_run, force=force)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(None if result is None else result.as_dict()))
        return
    if result is None:
        typer.echo("no polls stored: nothing to prune")
        return
    verb = "would remove" if dry_run else "removed"
    where = f" ({result.partitions} weekly partitions)" if result.partitions else ""
    typer.echo(
        f"{verb} {result.removed:,} polls before {result.boundary:%Y-%m-%d %H:%M} UTC{where}; "
        f"kept {result.kept:,} (each store's last poll before it); "
        f"data version {result.data_version}"
        + ("" if dry_run or result.changed else " (unchanged: nothing to remove)")
    )
