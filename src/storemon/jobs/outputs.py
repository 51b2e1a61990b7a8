"""What a job computes: the report (with its options), the fleet's outage list, or the
downtime profile — three outputs of one engine, run by the same jobs.

A job's ``options`` text is the canonical JSON of a :class:`JobSpec`: the report's
options as :meth:`ReportOptions.to_json` writes them (``{}`` for the plain report), or
``{"output": "outages"|"profile", "window": "168h"}``. Equal specs give equal texts, so
identical requests on unchanged data share one job whatever the output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

import pyarrow as pa
import pyarrow.compute as pc

from storemon.engine import compute_report, report_csv
from storemon.engine.options import DEFAULT_WINDOWS, ReportOptions, Window, parse_window
from storemon.engine.outages import compute_outages, outages_csv
from storemon.engine.profile import (
    Profile,
    ProfileTotals,
    add_profiles,
    compute_profile,
    profile_csv,
)
from storemon.errors import InvalidRequest
from storemon.jobs.summary import SHOWN_IDS, ReportFacts, summary_of
from storemon.schema import Interpolation
from storemon.store.base import DataStore, ReportInputs, SettingsFallbacks, StoreRange

__all__ = [
    "OUTPUTS",
    "ComputedOutput",
    "JobSpec",
    "Output",
    "Part",
    "compute_output",
    "compute_part",
    "inputs_for",
    "join_parts",
    "output_of_store",
]

Output = Literal["report", "outages", "profile"]
OUTPUTS: Final[tuple[Output, ...]] = ("report", "outages", "profile")
WEEK: Final = DEFAULT_WINDOWS[-1]


@dataclass(frozen=True)
class JobSpec:
    """One job's output and its parameters beyond as_of and interpolation."""

    output: Output = "report"
    options: ReportOptions = field(default_factory=ReportOptions)  # the report's
    window: Window = WEEK  # the outage list's or the profile's

    @property
    def span_us(self) -> int:
        """How far back before as_of the output looks."""
        return self.options.longest_us if self.output == "report" else self.window.length_us

    @property
    def lookback(self) -> timedelta:
        """:attr:`span_us` as the lookback of the inputs to read."""
        return timedelta(microseconds=self.span_us)

    def to_json(self) -> str:
        if self.output == "report":
            return self.options.to_json()
        return json.dumps(
            {"output": self.output, "window": self.window.text},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise InvalidRequest(f"job options must be a JSON object, not {text!r}")
        output = data.get("output", "report")
        if output == "report":
            return cls(options=ReportOptions.from_json(text))
        if output not in OUTPUTS:
            raise InvalidRequest(f"unknown output {output!r}: use one of {', '.join(OUTPUTS)}")
        return cls(output=output, window=parse_window(str(data.get("window", WEEK.text))))


@dataclass(frozen=True)
class ComputedOutput:
    """The CSV of an output, its row count, the as_of used and the summary to keep."""

    csv: bytes
    row_count: int
    as_of_used: datetime | None
    summary: dict[str, object]


def _latest_poll(polls: pa.Table, as_of: datetime) -> datetime | None:
    """The latest poll at or before ``as_of``."""
    instants = polls.column("timestamp_utc")
    kept = instants.filter(pc.less_equal(instants, pa.scalar(as_of, instants.type)))
    latest: datetime | None = pc.max(kept).as_py()
    return latest


def inputs_for(
    store: DataStore,
    spec: JobSpec,
    as_of: datetime | None,
    stores: StoreRange | None = None,
) -> ReportInputs:
    """What ``spec`` needs from ``store``: polls as far back as its output looks."""
    return store.report_inputs(as_of, lookback=spec.lookback, stores=stores)


def output_of_store(
    store: DataStore,
    spec: JobSpec,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    stores: StoreRange | None = None,
) -> ComputedOutput:
    """Read ``spec``'s inputs (of ``stores`` only, when given) and compute it, in this
    thread: what a job computes, for the command line. ``as_of`` None is the latest poll
    stored (of all stores)."""
    inputs = inputs_for(store, spec, as_of, stores)
    return compute_output(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        spec=spec,
        as_of=as_of if as_of is not None else inputs.as_of,
        interpolation=interpolation,
        fallbacks=store.settings_fallbacks() if spec.output == "report" else None,
    )


@dataclass(frozen=True)
class Part:
    """One partition's share of an output (small, picklable): its CSV with the header
    (none for the profile), its rows, as_of, and what the whole output's summary or
    profile is added up from."""

    csv: bytes
    row_count: int
    as_of_used: datetime | None
    facts: ReportFacts | None = None  # the report's
    profile: ProfileTotals | None = None  # the profile's exact totals


def compute_part(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    spec: JobSpec,
    as_of: datetime | None,
    interpolation: Interpolation,
) -> Part:
    """Run the engine for ``spec`` on the inputs of some stores (all, or a partition)."""
    if spec.output == "outages":
        found = compute_outages(
            polls, hours, timezones, as_of=as_of, interpolation=interpolation, window=spec.window
        )
        return Part(outages_csv(found.table), found.table.num_rows, found.as_of)
    if spec.output == "profile":
        profile = compute_profile(
            polls, hours, timezones, as_of=as_of, interpolation=interpolation, window=spec.window
        )
        return Part(b"", 168, profile.as_of, profile=profile.totals)
    report = compute_report(
        polls, hours, timezones, as_of=as_of, interpolation=interpolation, options=spec.options
    )
    latest = None if report.as_of is None else _latest_poll(polls, report.as_of)
    stale = report.stale_store_ids
    facts = ReportFacts(
        as_of=report.as_of,
        latest_poll=latest,
        rows=report.table.num_rows,
        stale_count=len(stale),
        stale_shown=[str(i) for i in stale.slice(0, SHOWN_IDS).to_pylist()],
    )
    return Part(report_csv(report.table), report.table.num_rows, report.as_of, facts=facts)


def join_parts(
    parts: Sequence[Part], *, spec: JobSpec, fallbacks: SettingsFallbacks | None = None
) -> ComputedOutput:
    """The output of the parts of disjoint store ranges, given in byte order of the ids:
    the CSVs one after the other (the header once), the profiles added up, the summary of
    the whole. The same bytes as computing all the stores at once."""
    instants = [part.as_of_used for part in parts if part.as_of_used is not None]
    as_of = instants[0] if instants else None
    if spec.output == "profile":
        totals = add_profiles([part.profile for part in parts if part.profile is not None])
        return ComputedOutput(
            profile_csv(Profile(totals, as_of, spec.window)), 168, as_of, {"warnings": []}
        )
    csv = _joined_csv([part.csv for part in parts])
    rows = sum(part.row_count for part in parts)
    if spec.output == "outages":
        return ComputedOutput(csv, rows, as_of, {"warnings": []})
    facts = ReportFacts.joined([part.facts for part in parts if part.facts is not None])
    return ComputedOutput(csv, rows, as_of, summary_of(facts, spec.options, fallbacks))


def _joined_csv(texts: Sequence[bytes]) -> bytes:
    """CSV texts of one header, the header once."""
    if len(texts) == 1:
        return texts[0]
    bodies = [text[text.index(b"\n") + 1 :] for text in texts[1:]]
    return b"".join([texts[0], *bodies])


def compute_output(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    spec: JobSpec,
    as_of: datetime | None,
    interpolation: Interpolation,
    fallbacks: SettingsFallbacks | None = None,
) -> ComputedOutput:
    """Run the engine for ``spec``: the same inputs give the same bytes in any process
    (and, partitioned, the same as :func:`join_parts` of the partitions' parts).

    ``fallbacks`` (stores on default settings because all their rows were rejected) are
    named in a report's summary."""
    part = compute_part(
        polls, hours, timezones, spec=spec, as_of=as_of, interpolation=interpolation
    )
    return join_parts([part], spec=spec, fallbacks=fallbacks)
