"""`storemon db`: what the database holds. Read-only: it never creates a database."""

from __future__ import annotations

import json

import typer

from storemon.cli._options import DbOption, JsonOption, open_db
from storemon.cli.app import app
from storemon.display import printable


@app.command("db")
def db_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show what the database holds: row counts, latest poll, data and schema version.

    A database that does not exist is reported as such, not created.
    """
    from storemon.store import redact_url

    store = open_db(db, create=False)
    try:
        counts = store.counts()
        latest = store.latest_poll_utc()
        info: dict[str, object] = {
            "url": redact_url(store.url),
            "schema_version": store.schema_version(),
            "data_version": store.data_version(),
            "latest_poll_utc": None if latest is None else latest.isoformat(),
            **counts,
        }
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(info))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        typer.echo(f"{key:<{width}}  {'-' if value is None else printable(str(value))}")
