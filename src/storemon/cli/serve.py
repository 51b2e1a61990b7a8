"""`storemon serve`: the HTTP API (and the inbox watcher) on one port."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from storemon.api import create_app
from storemon.cli.app import app
from storemon.config import get_settings
from storemon.ingest.inbox import InboxWatcher
from storemon.store import open_store

log = logging.getLogger("storemon.serve")

_LOG_LEVELS = ("debug", "info", "warning", "error")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: STOREMON_HOST, 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port [default: STOREMON_PORT, 8080]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Database URL [default: STOREMON_DB, duckdb:///storemon.duckdb]."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Reports computed at once [default: STOREMON_REPORT_WORKERS, 2]."
        ),
    ] = None,
    inbox: Annotated[
        bool | None,
        typer.Option(
            "--inbox/--no-inbox",
            help="Also ingest files dropped in STOREMON_INBOX_DIR "
            "[default: STOREMON_INBOX_ENABLED, on].",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP API: trigger and download reports, ingest files, /metrics.

    Interactive API documentation is at http://HOST:PORT/docs. Report jobs are
    kept in the database: finished reports survive a restart, and jobs a crash
    left unfinished are run again at start-up. Stop with Ctrl-C.
    """
    if log_level.lower() not in _LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r}; use one of {', '.join(_LOG_LEVELS)}", param_hint="--log-level"
        )
    settings = get_settings(
        host=host, port=port, db=db, report_workers=workers, inbox_enabled=inbox
    )
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:  %(name)s %(message)s")
    store = open_store(settings.db)
    watcher: InboxWatcher | None = None
    try:
        if settings.inbox_enabled:
            watcher = InboxWatcher(store, settings.inbox_dir, settings.inbox_interval_seconds)
            watcher.start()
            log.info(
                "watching %s for CSV files every %g s",
                settings.inbox_dir,
                settings.inbox_interval_seconds,
            )
        config = uvicorn.Config(
            create_app(settings, store),
            host=settings.host,
            port=settings.port,
            log_level=log_level.lower(),
            access_log=access_log,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise typer.Exit(1)
    finally:
        if watcher is not None:
            watcher.stop()
        store.close()
