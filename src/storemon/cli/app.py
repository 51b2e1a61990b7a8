"""The typer application object that every command module registers on.

Nothing here (nor in any command module's top level) imports pyarrow, numpy, a
database driver or the web stack: ``storemon --help`` and argument errors stay fast.
"""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from storemon import __version__


class _Commands(typer.core.TyperGroup):
    """Lists the commands in alphabetical order, not in the order they registered."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return sorted(super().list_commands(ctx))


app = typer.Typer(
    name="storemon",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show "[default: ...]" literally
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"storemon {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Store uptime and downtime within business hours: ingest polls, compute reports,
    serve them.

    Exit codes: 0 success; 1 an error storemon explains (a refused file, a database
    failure); 2 a usage error (a bad option value or setting, a missing file);
    130 interrupted.
    """
