"""The hand-written Prometheus exposition format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storemon.api.metrics import Counter, Histogram, Metrics
from storemon.store import JobRecord


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram("h_seconds", "Help.", ("kind",), buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value, "a")
    assert list(histogram.render()) == [
        "# HELP h_seconds Help.",
        "# TYPE h_seconds histogram",
        'h_seconds_bucket{kind="a",le="0.1"} 2',
        'h_seconds_bucket{kind="a",le="1"} 3',
        'h_seconds_bucket{kind="a",le="+Inf"} 4',
        'h_seconds_sum{kind="a"} 3.65',
        'h_seconds_count{kind="a"} 4',
    ]


def test_counter_escapes_label_values_and_only_goes_up() -> None:
    counter = Counter("c_total", "Help.", ("name",))
    counter.inc('a"b\\c\nd', amount=2)
    assert list(counter.render())[-1] == 'c_total{name="a\\"b\\\\c\\nd"} 2'
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc("x", amount=-1)


def test_metrics_render_reports_and_ingests() -> None:
    metrics = Metrics()
    start = datetime(2023, 1, 1, tzinfo=UTC)
    job = JobRecord(
        id="j",
        status="complete",
        interpolation="nearest",
        as_of_requested=None,
        data_version=1,
        created_at=start,
        started_at=start,
        finished_at=start.replace(second=2),
    )
    metrics.report_finished(job)
    metrics.ingest_finished("status", seconds=0.3, loaded=10, rejected=2)
    text = metrics.render({"queued": 1, "running": 0})
    assert 'storemon_reports_in_progress{status="queued"} 1\n' in text
    assert 'storemon_report_duration_seconds_sum{status="complete"} 2\n' in text
    assert 'storemon_ingest_rows_total{source="status",outcome="loaded"} 10\n' in text
    assert 'storemon_ingest_rows_total{source="status",outcome="rejected"} 2\n' in text
    assert 'storemon_ingest_duration_seconds_count{source="status"} 1\n' in text
    assert text.endswith("\n")
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
