"""`storemon generate`: write synthetic status polls for the demo (or your own) stores."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from storemon.cli._options import write_output
from storemon.cli.app import app
from storemon.display import printable


def end_instant(text: str, days: float) -> datetime:
    """``--end`` as an instant ('now' or a timestamp) that leaves room for ``--days``."""
    if text == "now":
        end_at = datetime.now(UTC)
    else:
        from storemon.errors import InvalidRequest
        from storemon.ingest.timestamps import parse_instant

        try:
            end_at = parse_instant(text)
        except InvalidRequest as error:
            raise typer.BadParameter(str(error), param_hint="'--end'") from None
    if end_at - datetime.min.replace(tzinfo=UTC) < timedelta(days=days):
        raise typer.BadParameter(
            "the period would start before 0001-01-01: give fewer --days or a later --end",
            param_hint="'--days'",
        )
    return end_at


@app.command()
def generate(
    hours: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Business-hours CSV whose store ids get polls "
            "[default: with neither file given, the bundled demo stores].",
        ),
    ] = None,
    timezones: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Timezones CSV whose store ids get polls "
            "[default: with neither file given, the bundled demo stores].",
        ),
    ] = None,
    stores: Annotated[
        int,
        typer.Option(
            min=0, help="Synthetic stores to add (synthetic-00001 ...; no hours, no zone)."
        ),
    ] = 0,
    days: Annotated[
        float, typer.Option(min=0.001, max=3660, help="Length of the polled period, in days.")
    ] = 8.0,
    end: Annotated[
        str,
        typer.Option(help="End of the period: 'now' or a timestamp, e.g. '2023-01-25 18:13 UTC'."),
    ] = "now",
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed and stores give the same polls.")
    ] = 42,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="File to write ('.gz' is gzipped), or '-' for standard output."
        ),
    ] = "-",
) -> None:
    """Write synthetic status polls as a status CSV (store_id,status,timestamp_utc).

    The stores are those named in the hours and/or timezones file given; with
    neither, the bundled demo stores. Every store is checked about hourly, a few
    minutes past the hour, with some checks missing; outages last minutes to days
    and about 8 % of polls are inactive. The default end is now, so a fresh demo
    looks live. Load the result with the hours and timezones files.
    """
    end_at = end_instant(end, days)
    import gzip

    from storemon.generate import demo_polls, polls_csv

    polls = demo_polls(
        hours=hours, timezones=timezones, extra_stores=stores, days=days, end=end_at, seed=seed
    )
    data = polls_csv(polls)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_output(gzip.compress(data, 6, mtime=0) if output.endswith(".gz") else data, output)
    inactive = 1 - polls.column("active").to_numpy(zero_copy_only=False).mean() if len(polls) else 0
    where = "standard output" if output == "-" else printable(output)
    typer.echo(
        f"wrote {polls.num_rows:,} polls for {len(polls.column('store_id').unique()):,} stores "
        f"({inactive:.1%} inactive) to {where}",
        err=True,
    )
