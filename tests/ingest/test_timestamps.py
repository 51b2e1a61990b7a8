"""SPEC timestamps and times of day: accepted forms, rejections, and the vectorized paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon.errors import InvalidRequest
from storemon.ingest.timestamps import (
    BAD_CALENDAR,
    BAD_FORMAT,
    END_ONLY,
    OK,
    format_instants,
    parse_instant,
    parse_instants,
    parse_times_of_day,
)
from storemon.schema import US_PER_DAY

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22 12:09:39.388884 UTC", utc(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22 12:09:39 UTC", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09 UTC", utc(2023, 1, 22, 12, 9)),
        ("2023-01-22 12:09", utc(2023, 1, 22, 12, 9)),
        ("2023-01-22T12:09:39Z", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39.5Z", utc(2023, 1, 22, 12, 9, 39, 500000)),
        ("2023-01-22 12:09:39.000001", utc(2023, 1, 22, 12, 9, 39, 1)),
        ("2023-01-22 12:09:39.1234567899 UTC", utc(2023, 1, 22, 12, 9, 39, 123456)),
        ("2023-01-22 12:09:39+05:30", utc(2023, 1, 22, 6, 39, 39)),
        ("2023-01-22 12:09:39.25-01:00", utc(2023, 1, 22, 13, 9, 39, 250000)),
        ("2023-01-01 00:30+01:00", utc(2022, 12, 31, 23, 30)),
        ("  2023-01-22 12:09:39 UTC  ", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39 utc", utc(2023, 1, 22, 12, 9, 39)),
        ("2024-02-29 00:00", utc(2024, 2, 29)),
        ("2000-02-29 00:00", utc(2000, 2, 29)),
        ("1969-12-31 23:59:59.999999", utc(1969, 12, 31, 23, 59, 59, 999999)),
        ("0001-01-01 00:00", utc(1, 1, 1)),
        ("9999-12-31 23:59:59.999999Z", utc(9999, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_parse_instant_accepts_the_spec_forms(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2023-1-22",
        "2023-1-22 12:00",
        "2023-01-22 1:00",
        "2023-01-22 12:09:39.",
        "2023-01-22 12:09:39 GMT",
        "2023-01-22 12:09:39 UTC+1",
        "2023-01-22 12:09:39+0530",
        "2023/01/22 12:09:39",
        "22-01-2023 12:09",
        "１２３４-01-22 12:00",
    ],
)
def test_parse_instant_rejects_other_shapes_and_shows_the_forms(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"expected YYYY-MM-DD HH:MM\[:SS\[\.ffffff\]\]"):
        parse_instant(text)


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29 00:00",
        "1900-02-29 00:00",
        "2023-04-31 00:00",
        "2023-13-01 00:00",
        "2023-00-10 00:00",
        "2023-01-00 00:00",
        "2023-01-22 24:00",
        "2023-01-22 23:60",
        "2023-01-22 23:59:60",
        "2023-01-22 12:00+24:00",
        "2023-01-22 12:00+05:60",
        "0001-01-01 00:00+01:00",
    ],
)
def test_parse_instant_rejects_impossible_dates_and_times(text: str) -> None:
    with pytest.raises(InvalidRequest, match="not a real date and time"):
        parse_instant(text)


def test_a_bare_date_is_midnight_utc() -> None:
    assert parse_instant("2020-01-01") == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_instant(" 2023-01-25 ") == datetime(2023, 1, 25, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="not a real date and time"):
        parse_instant("2023-02-30")
    with pytest.raises(InvalidRequest, match=r"or a bare date YYYY-MM-DD \(midnight UTC\)"):
        parse_instant("2023-01")


@pytest.mark.parametrize("text", ["2023-01-22", "2023-01-22 "])
def test_a_bare_date_in_a_csv_row_is_still_no_timestamp(text: str) -> None:
    _, code = parse_instants(pa.array([text]))
    assert code[0] == BAD_FORMAT


def test_column_parser_mixes_fast_layouts_regex_rows_and_nulls() -> None:
    texts = [
        "2023-01-22 12:09:39.388884 UTC",  # fast, width 30
        "2023-01-22 12:09:39",  # fast, width 19
        "2023-01-22T12:09:39.388884Z",  # fast, width 27
        "2023-01-22 12:09:39.388884+00:00",  # regex
        "2023-01-22 12:09:39.38888 UTC",  # width 29: regex
        "2023-02-30 12:09:39.388884 UTC",  # fast layout, impossible date
        "2023-01-22 12:09:39.38a884 UTC",  # width 30 but not digits
        "2023-01-22 12:09:39.388884 UTX",  # width 30, wrong suffix
        None,
    ]
    us, code = parse_instants(pa.array(texts, pa.string()))
    assert code.tolist() == [OK, OK, OK, OK, OK, BAD_CALENDAR, BAD_FORMAT, BAD_FORMAT, BAD_FORMAT]
    micro = 388884
    base = int((utc(2023, 1, 22, 12, 9, 39) - EPOCH).total_seconds()) * 1_000_000
    assert us[:5].tolist() == [base + micro, base, base + micro, base + micro, base + 388880]
    assert us[5:].tolist() == [0, 0, 0, 0]


def test_column_parser_handles_chunked_and_sliced_input() -> None:
    texts = ["2023-01-22 12:00:00.000001 UTC", "bad", "2023-01-22 12:00:00.000002 UTC"] * 3
    chunked = pa.chunked_array([pa.array(texts[:4]), pa.array(texts[4:])])
    sliced = pa.array(["x", *texts])[1:]
    for column in (chunked, sliced):
        us, code = parse_instants(column)
        assert code.tolist() == [OK, BAD_FORMAT, OK] * 3
        assert (us[code == OK] % 1_000_000).tolist() == [1, 2] * 3


@st.composite
def formatted_instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """A datetime written in one of the accepted forms, and the instant it means."""
    moment = draw(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30, 23, 59, 59))
    )
    separator = draw(st.sampled_from([" ", "T"]))
    precision = draw(st.sampled_from(["minutes", "seconds", "micro", "nano"]))
    # strftime's %Y does not pad years before 1000 on every platform
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
    text += f"{moment.hour:02d}:{moment.minute:02d}"
    if precision == "minutes":
        moment = moment.replace(second=0, microsecond=0)
    elif precision == "seconds":
        text += moment.strftime(":%S")
        moment = moment.replace(microsecond=0)
    else:
        text += moment.strftime(":%S.%f") + ("789" if precision == "nano" else "")
    offset_minutes = draw(st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
    suffix = draw(st.sampled_from([" UTC", "Z", "", "offset"]))
    if suffix == "offset":
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        text += f"{sign}{hours:02d}:{minutes:02d}"
        zone = timezone(timedelta(minutes=offset_minutes))
    else:
        text += suffix
        zone = UTC
    return text, moment.replace(tzinfo=zone).astimezone(UTC)


@settings(max_examples=150, deadline=None)
@given(st.lists(formatted_instants(), min_size=1, max_size=20))
def test_column_parser_agrees_with_python_datetime(cases: list[tuple[str, datetime]]) -> None:
    us, code = parse_instants(pa.array([text for text, _ in cases]))
    assert (code == OK).all()
    expected = [(moment - EPOCH) // timedelta(microseconds=1) for _, moment in cases]
    assert us.tolist() == expected
    assert parse_instant(cases[0][0]) == cases[0][1]


def test_times_of_day_forms_and_limits() -> None:
    texts = ["9:30", "09:30", "09:30:15", "23:59:59.999999", "00:00:00.1234567", " 10:00 "]
    us, code = parse_times_of_day(pa.array(texts), end=False)
    assert code.tolist() == [OK] * 6
    assert us.tolist() == [
        34_200_000_000,
        34_200_000_000,
        34_215_000_000,
        86_399_999_999,
        123_456,
        36_000_000_000,
    ]


def test_midnight_24_is_an_end_time_only() -> None:
    texts = ["24:00", "24:00:00", "24:00:00.000000"]
    end_us, end_code = parse_times_of_day(pa.array(texts), end=True)
    assert end_code.tolist() == [OK] * 3
    assert end_us.tolist() == [US_PER_DAY] * 3
    _, start_code = parse_times_of_day(pa.array(texts), end=False)
    assert start_code.tolist() == [END_ONLY] * 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24:01", BAD_CALENDAR),
        ("24:00:01", BAD_CALENDAR),
        ("25:00", BAD_CALENDAR),
        ("12:60", BAD_CALENDAR),
        ("12:00:60", BAD_CALENDAR),
        ("9:3", BAD_FORMAT),
        ("123:00", BAD_FORMAT),
        ("09:30 PM", BAD_FORMAT),
        ("", BAD_FORMAT),
        ("noon", BAD_FORMAT),
    ],
)
def test_times_of_day_rejections(text: str, expected: int) -> None:
    us, code = parse_times_of_day(pa.array([text]), end=True)
    assert code.tolist() == [expected]
    assert us.tolist() == [0]


def test_times_of_day_of_an_empty_column() -> None:
    us, code = parse_times_of_day(pa.array([], pa.string()), end=True)
    assert len(us) == 0
    assert len(code) == 0
    assert us.dtype == np.int64


def test_format_instants_is_the_inverse_of_parsing() -> None:
    moments = [utc(2023, 1, 22, 12, 9, 39, 388884), utc(1, 1, 1), utc(9999, 12, 31, 23, 59, 59)]
    moments += [utc(2024, 2, 29, 0, 0, 0, 1), utc(1969, 12, 31, 23, 59, 59, 999999)]
    us = np.array([(m - EPOCH) // timedelta(microseconds=1) for m in moments], np.int64)
    texts = format_instants(us).to_pylist()
    assert texts[0] == "2023-01-22 12:09:39.388884 UTC"
    assert texts[1] == "0001-01-01 00:00:00.000000 UTC"
    assert texts == [m.strftime("%Y-%m-%d %H:%M:%S.%f UTC").rjust(30, "0") for m in moments]
    back, code = parse_instants(pa.array(texts))
    assert (code == OK).all()
    assert back.tolist() == us.tolist()
    assert format_instants(us[:1], suffix="Z\n").to_pylist() == ["2023-01-22 12:09:39.388884Z\n"]
    with pytest.raises(ValueError, match="years 1-9999"):
        format_instants(np.array([-(10**18)], np.int64))


def test_uniform_chunks_take_the_one_layout_path_and_still_reject_bad_rows() -> None:
    good = "2023-01-22 12:09:39.388884 UTC"
    texts = [good, "2023-01-22 12:09:39.388884 UTx", good, "2023-02-29 12:09:39.388884 UTC"]
    sliced = pa.array(["2023-01-22 12:09:39.000000 UTC", *texts])[1:]  # offset > 0
    for column in (pa.array(texts), sliced, pa.chunked_array([pa.array(texts[:1]), sliced])):
        us, code = parse_instants(column)
        assert code.tolist()[-4:] == [OK, BAD_FORMAT, OK, BAD_CALENDAR]
        assert us.tolist()[-4:] == [us[-4], 0, us[-4], 0]
        assert us[-4] == (utc(2023, 1, 22, 12, 9, 39, 388884) - EPOCH) // timedelta(microseconds=1)
