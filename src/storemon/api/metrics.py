"""Prometheus metrics in the text exposition format (0.0.4), written by hand.

Only what storemon needs: labelled counters and histograms (sum, count and
cumulative buckets), plus gauges sampled at scrape time. Thread-safe.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from storemon.store.base import JobRecord

__all__ = ["CONTENT_TYPE", "Counter", "Histogram", "Metrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(label_names)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        for labels, value in items:
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class _Series:
    """One label set of a histogram."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size  # non-cumulative: observations in (previous bound, bound]
        self.count = 0
        self.total = 0.0


class Histogram:
    """Observations counted into cumulative ``le`` buckets, with their sum and count."""

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = _DURATION_BUCKETS,
    ) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(label_names)
        self.bounds = tuple(sorted(buckets))
        self._series: dict[Labels, _Series] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = _Series(len(self.bounds))
            if index < len(self.bounds):
                series.buckets[index] += 1
            series.count += 1
            series.total += value

    def count(self, *labels: str) -> int:
        with self._lock:
            series = self._series.get(labels)
            return 0 if series is None else series.count

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            items = sorted(
                (labels, list(itertools.accumulate(s.buckets)), s.total, s.count)
                for labels, s in self._series.items()
            )
        for labels, cumulative, total, count in items:
            for bound, bucket_count in zip(self.bounds, cumulative, strict=True):
                label_text = _labels(self.label_names, labels, f'le="{_number(bound)}"')
                yield f"{self.name}_bucket{label_text} {bucket_count}"
            label_text = _labels(self.label_names, labels, 'le="+Inf"')
            yield f"{self.name}_bucket{label_text} {count}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {_number(total)}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {count}"


def _gauge(name: str, help_text: str, label: str, values: Mapping[str, float]) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} gauge"
    for key, value in sorted(values.items()):
        yield f'{name}{{{label}="{_escape(key)}"}} {_number(value)}'


class Metrics:
    """storemon's metrics: reports and ingests handled by this process."""

    def __init__(self) -> None:
        self.reports_triggered = Counter(
            "storemon_reports_triggered_total",
            "Report triggers, by outcome: a new job, or an identical job reused.",
            ("outcome",),
        )
        self.reports_finished = Counter(
            "storemon_reports_finished_total",
            "Report jobs finished by this process, by final status.",
            ("status",),
        )
        self.report_seconds = Histogram(
            "storemon_report_duration_seconds",
            "Time from a report job's start to its end (read inputs, compute, store the CSV).",
            ("status",),
        )
        self.ingest_seconds = Histogram(
            "storemon_ingest_duration_seconds",
            "Time to validate and store one file posted to /ingest, by source.",
            ("source",),
        )
        self.ingest_rows = Counter(
            "storemon_ingest_rows_total",
            "Data rows of files posted to /ingest, by source and outcome (loaded or rejected).",
            ("source", "outcome"),
        )
        self.ingest_refused = Counter(
            "storemon_ingest_refused_total",
            "Files posted to /ingest that were refused as a whole, by source.",
            ("source",),
        )

    def report_triggered(self, *, reused: bool) -> None:
        self.reports_triggered.inc("reused" if reused else "new")

    def report_finished(self, job: JobRecord) -> None:
        """Count a finished job and observe its duration (a ReportJobs ``on_finished`` hook)."""
        self.reports_finished.inc(job.status)
        if job.started_at is not None and job.finished_at is not None:
            seconds = (job.finished_at - job.started_at).total_seconds()
            self.report_seconds.observe(seconds, job.status)

    def ingest_finished(self, source: str, *, seconds: float, loaded: int, rejected: int) -> None:
        self.ingest_seconds.observe(seconds, source)
        self.ingest_rows.inc(source, "loaded", amount=loaded)
        self.ingest_rows.inc(source, "rejected", amount=rejected)

    def render(self, in_progress: Mapping[str, int]) -> str:
        """The exposition text; ``in_progress`` is the queued/running job count by status."""
        lines: list[str] = []
        lines.extend(
            _gauge(
                "storemon_reports_in_progress",
                "Report jobs of this process now queued or running, by status.",
                "status",
                in_progress,
            )
        )
        for metric in (
            self.reports_triggered,
            self.reports_finished,
            self.report_seconds,
            self.ingest_seconds,
            self.ingest_rows,
            self.ingest_refused,
        ):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
