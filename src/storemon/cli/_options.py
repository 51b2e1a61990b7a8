"""The options several commands share, declared once, and the helpers that read them.

``report`` (and the Part 2 commands) take ``DbOption``, ``AsOfOption``,
``InterpolationOption`` and ``OutputOption``; every command that reads or writes the
database takes ``DbOption`` and opens it with :func:`open_db`. Heavy modules
(the store, the timestamp parser, settings) are imported inside the helpers, so
declaring the options costs nothing at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from storemon.config import Settings
    from storemon.schema import Interpolation, Source
    from storemon.store import Store

#: As in storemon.schema (tests/cli/test_options.py holds them equal); repeated here
#: so that checking an option value does not load pyarrow.
INTERPOLATIONS: Final = ("nearest", "previous")
SOURCES: Final = ("status", "hours", "timezones")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL, e.g. duckdb:///storemon.duckdb or "
        "postgresql://user@host:5432/storemon [default: STOREMON_DB, duckdb:///storemon.duckdb].",
        show_default=False,
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="'Now' for the report: a UTC timestamp ('2023-01-25 18:00:00', "
        "'2023-01-25T18:00Z', an offset) [default: the latest poll].",
        show_default=False,
    ),
]
InterpolationOption = Annotated[
    str,
    typer.Option(
        "--interpolation",
        help="State between polls: 'nearest' poll, or 'previous' poll (sample and hold).",
    ),
]
OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="File to write the CSV to, or '-' for standard output. A file is replaced only "
        "once the new output is complete: a failed run leaves the previous file as it was.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def check_interpolation(value: str) -> Interpolation:
    """``value`` if it names an interpolation, else a usage error (exit 2)."""
    if value not in INTERPOLATIONS:
        raise typer.BadParameter(
            f"'{value}' is not one of 'nearest', 'previous'", param_hint="'--interpolation'"
        )
    return value  # type: ignore[return-value]


def check_source(value: str | None) -> Source | None:
    """``value`` if it names a source (or is None), else a usage error (exit 2)."""
    if value is not None and value not in SOURCES:
        raise typer.BadParameter(
            f"{value!r}; use one of {', '.join(SOURCES)}", param_hint="'--source'"
        )
    return value  # type: ignore[return-value]


def parse_as_of(text: str | None) -> datetime | None:
    """The ``--as-of`` instant (UTC), None when not given; a bad one is a usage error."""
    if text is None:
        return None
    from storemon.errors import InvalidRequest
    from storemon.ingest.timestamps import parse_instant

    try:
        return parse_instant(text)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error), param_hint="'--as-of'") from None


def load_settings(*, uses: Collection[str] | None, **overrides: object) -> Settings:
    """The settings a command ``uses`` (None: all), flags in ``overrides`` on top.

    A bad value of one of them is a ConfigError (exit 2, one line naming the
    variable); a bad value of a setting the command does not use is ignored.
    """
    from storemon.config import get_settings

    return get_settings(uses=uses, **overrides)


def open_db(db: str | None, *, create: bool) -> Store:
    """Open the database of ``--db`` (or STOREMON_DB).

    Read-only commands pass ``create=False``: a database that does not exist is an
    error saying so, never created. A URL that is not understood is a usage error
    naming ``--db`` or ``STOREMON_DB``, whichever gave it.
    """
    from storemon.errors import ConfigError
    from storemon.store import open_store

    url = db_url(db)
    try:
        return open_store(url, create=create)
    except ConfigError as error:
        raise _bad_db(error, db) from None


def db_url(db: str | None) -> str:
    """The database URL of ``--db`` (or STOREMON_DB), checked but not opened (a usage
    error as in :func:`open_db` when it is not understood)."""
    from storemon.errors import ConfigError
    from storemon.store.urls import parse_url

    url = load_settings(uses=("db",), db=db).db
    try:
        parse_url(url)
    except ConfigError as error:
        raise _bad_db(error, db) from None
    return url


def _bad_db(error: Exception, db: str | None) -> typer.BadParameter:
    return typer.BadParameter(str(error), param_hint="'--db'" if db is not None else "STOREMON_DB")


def write_output(data: bytes, output: str) -> None:
    """``data`` to ``output``: '-' is stdout; a file is replaced only once ``data`` is
    written whole (a failed write leaves the previous file as it was)."""
    if output == "-":
        typer.echo(data, nl=False)
        return
    from storemon.cli._files import replace_file

    try:
        replace_file(Path(output), data)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot write {output}: {error.strerror}", param_hint="'--output'"
        ) from None
