"""`storemon serve`: the HTTP API (and the inbox watcher) on one port."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from storemon import __version__
from storemon.cli._options import DbOption, load_settings, open_db
from storemon.cli.app import app

if TYPE_CHECKING:
    import uvicorn

    from storemon.ingest.inbox import InboxWatcher
    from storemon.store.retention import PruneSchedule

log = logging.getLogger("storemon.serve")

_LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_FORMATS = ("text", "json")


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
    db: DbOption = None,
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
    log_level: Annotated[
        str | None,
        typer.Option(
            help="debug, info, warning or error [default: STOREMON_LOG_LEVEL, info].",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            help="text (UTC time, level, logger, message) or json (one object per line) "
            "[default: STOREMON_LOG_FORMAT, text].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the HTTP API: trigger and download reports, ingest files, /metrics.

    Interactive API documentation is at http://HOST:PORT/docs. Report jobs are
    kept in the database: finished reports survive a restart, and jobs a crash
    left unfinished are run again at start-up. Stop with Ctrl-C.
    """
    if log_level is not None and log_level.lower() not in _LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r}; use one of {', '.join(_LOG_LEVELS)}", param_hint="'--log-level'"
        )
    if log_format is not None and log_format not in _LOG_FORMATS:
        raise typer.BadParameter(
            f"{log_format!r}; use one of {', '.join(_LOG_FORMATS)}", param_hint="'--log-format'"
        )
    # The server uses every setting: a bad one stops it here, in one line.
    settings = load_settings(
        uses=None,
        host=host,
        port=port,
        db=db,
        report_workers=workers,
        inbox_enabled=inbox,
        log_level=None if log_level is None else log_level.lower(),
        log_format=log_format,
    )
    # Imported here, not at module level: the other commands need not load the HTTP stack.
    import uvicorn

    from storemon.api import create_app
    from storemon.api.serving import uvicorn_config
    from storemon.errors import StoremonError
    from storemon.ingest.inbox import InboxWatcher
    from storemon.logs import configure_logging
    from storemon.store import redact_url
    from storemon.store.retention import PruneSchedule, parse_older_than

    configure_logging(settings.log_level, settings.log_format)
    store = open_db(db, create=True)
    log.info(
        "storemon %s serving http://%s:%d, database %s, inbox %s",
        __version__,
        settings.host,
        settings.port,
        redact_url(store.url),
        (
            f"{settings.inbox_dir.resolve()} every {settings.inbox_interval_seconds:g} s"
            if settings.inbox_enabled
            else "off"
        ),
    )
    watcher: InboxWatcher | None = None
    pruner: PruneSchedule | None = None
    try:
        if settings.inbox_enabled:
            watcher = InboxWatcher(store, settings.inbox_dir, settings.inbox_interval_seconds)
            watcher.start()
        if settings.prune_older_than is not None:
            pruner = PruneSchedule(
                store, parse_older_than(settings.prune_older_than), settings.prune_interval_seconds
            )
            pruner.start()
        config = uvicorn_config(
            create_app(settings, store, compute_in_processes=True),
            settings,
            log_level=settings.log_level,
            access_log=access_log,
        )
        server = uvicorn.Server(config)
        _run_until_signal(server)
        if not server.started:
            raise StoremonError(  # the address is taken: exit 1, not a usage error
                f"the server could not start on {settings.host}:{settings.port} (see the "
                "message above); if the port is in use, choose another with --port"
            )
    finally:
        if pruner is not None:
            pruner.stop()
        if watcher is not None:
            watcher.stop()
        store.close()
