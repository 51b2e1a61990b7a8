"""`storemon serve`: the HTTP API (and the inbox watcher) on one port."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from storemon.cli.app import app
from storemon.config import get_settings
from storemon.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

    from storemon.ingest.inbox import InboxWatcher

log = logging.getLogger("storemon.serve")

_LOG_LEVELS = ("debug", "info", "warning", "error")


class _Stopped(Exception):
    """SIGTERM arrived (re-raised by uvicorn after its graceful shutdown)."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _run_until_signal(server: uvicorn.Server) -> None:
    """Run uvicorn; a SIGINT or SIGTERM is a clean stop (exit 0), not an abort.

    uvicorn shuts down gracefully on these signals (lifespan shutdown included:
    running reports finish) and then re-raises the signal; here that ends the
    command normally so the store and the inbox watcher are closed.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if main_thread else None
    try:
        server.run()
    except (_Stopped, KeyboardInterrupt):
        log.info("stopped")
    except SystemExit as exit_:  # uvicorn exits when it cannot start (e.g. port in use)
        if server.started or exit_.code in (0, None):
            raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


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
    # Imported here, not at module level: the other commands need not load the HTTP stack.
    import uvicorn

    from storemon.api import create_app
    from storemon.api.serving import uvicorn_config
    from storemon.ingest.inbox import InboxWatcher
    from storemon.store import open_store

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
        config = uvicorn_config(
            create_app(settings, store, compute_in_processes=True),
            settings,
            log_level=log_level.lower(),
            access_log=access_log,
        )
        server = uvicorn.Server(config)
        _run_until_signal(server)
        if not server.started:
            raise ConfigError(
                f"the server could not start on {settings.host}:{settings.port} (see the "
                "message above); if the port is in use, choose another with --port"
            )
    finally:
        if watcher is not None:
            watcher.stop()
        store.close()
