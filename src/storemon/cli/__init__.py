"""The storemon command line: parse, call a service, print — nothing else.

Each command group lives in its own module and registers itself on :data:`app`.
Exit codes: 0 success, 1 a storemon error (message on stderr), 2 a usage error
(bad option value, missing file), 130 interrupted.
"""

from __future__ import annotations

import sys

import click
import typer

from storemon.cli import demo as _demo  # noqa: F401  (registers commands)
from storemon.cli import generate as _generate  # noqa: F401  (registers commands)
from storemon.cli import ingest as _ingest  # noqa: F401  (registers commands)
from storemon.cli import report as _report  # noqa: F401  (registers commands)
from storemon.cli import serve as _serve  # noqa: F401  (registers commands)
from storemon.cli.app import app
from storemon.errors import StoremonError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning storemon errors into clean exits."""
    try:
        result = app(args=argv, prog_name="storemon", standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:  # usage errors: exit 2 with click's message
        error.show()
        sys.exit(error.exit_code)
    except typer.TyperException as error:  # typer >= 0.29 raises its own (vendored) click errors
        show = getattr(error, "show", None)
        if show is None:
            click.echo(f"error: {error}", err=True)
        else:
            show()
        sys.exit(getattr(error, "exit_code", 2))
    except (click.Abort, typer.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except StoremonError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
