"""The storemon command line: parse, call a service, print — nothing else.

Each command group lives in its own module and registers itself on :data:`app`.
Modules import what a command needs inside the command, so ``storemon --help``
and argument errors load no pyarrow, numpy, database driver or web framework
(tests/cli/test_startup.py holds that line).

Exit codes: 0 success, 1 a storemon error (message on stderr), 2 a usage error
(bad option value or setting, missing file), 130 interrupted.
"""

from __future__ import annotations

import logging
import sys

import typer

from storemon.cli import db as _db  # noqa: F401  (registers commands)
from storemon.cli import demo as _demo  # noqa: F401  (registers commands)
from storemon.cli import export as _export  # noqa: F401  (registers commands)
from storemon.cli import generate as _generate  # noqa: F401  (registers commands)
from storemon.cli import ingest as _ingest  # noqa: F401  (registers commands)
from storemon.cli import insight as _insight  # noqa: F401  (registers commands)
from storemon.cli import prune as _prune  # noqa: F401  (registers commands)
from storemon.cli import report as _report  # noqa: F401  (registers commands)
from storemon.cli import serve as _serve  # noqa: F401  (registers commands)
from storemon.cli.app import app
from storemon.display import printable
from storemon.errors import ConfigError, StoremonError
from storemon.logs import configure_logging, remove_logging

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning errors into exit codes in one place.

    Log records go to stderr, escaped (storemon.logs), warnings and errors only;
    `serve` and `watch` set the level and format from their settings.
    """
    level = logging.getLogger().level
    configure_logging("warning", "text")
    try:
        _run(argv)
    finally:
        remove_logging(level)


def _run(argv: list[str] | None) -> None:
    try:
        result = app(args=argv, prog_name="storemon", standalone_mode=False)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # usage errors: exit 2 with click's message
        show = getattr(error, "show", None)
        if show is None:
            typer.echo(f"error: {printable(str(error))}", err=True)
        else:
            show()
        sys.exit(getattr(error, "exit_code", 2))
    except StoremonError as error:  # a bad setting or database URL is a usage error
        for line in str(error).splitlines() or [""]:
            typer.echo(f"error: {printable(line)}", err=True)
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    sys.exit(result if isinstance(result, int) else 0)
