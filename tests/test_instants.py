"""The one copy of the epoch/datetime conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from storemon.instants import from_epoch_us, to_epoch_us, to_naive_utc, to_utc


def test_to_epoch_us() -> None:
    assert to_epoch_us(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1
    assert to_epoch_us(datetime(2023, 1, 1)) == 1_672_531_200_000_000


def test_conversions_are_exact_over_datetimes_whole_range() -> None:
    for instant in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2400, 6, 1, 12, 0, 0, 123457, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ):
        assert from_epoch_us(to_epoch_us(instant)) == instant
    assert to_epoch_us(datetime(1, 1, 1, tzinfo=UTC)) == -62_135_596_800_000_000


def test_naive_is_utc_and_offsets_are_converted() -> None:
    eastern = datetime(2023, 1, 23, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert to_utc(eastern) == datetime(2023, 1, 23, 10, 0, tzinfo=UTC)
    assert to_utc(eastern).tzinfo is UTC
    assert to_utc(datetime(2023, 1, 23, 10, 0)) == datetime(2023, 1, 23, 10, 0, tzinfo=UTC)
    assert to_naive_utc(eastern) == datetime(2023, 1, 23, 10, 0)
    assert to_epoch_us(datetime(2023, 1, 1)) == to_epoch_us(datetime(2023, 1, 1, tzinfo=UTC))
