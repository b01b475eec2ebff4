"""Report times and the reach of a window: every form reports write times in, the offsets a poll's interval echo shows,
and the 15-month floor."""

from datetime import datetime, timedelta, timezone

import pytest

from source_freshchat.config import format_timestamp
from source_freshchat.extract.times import has_offset, interval_offsets, reach_floor, report_time

from .conftest import HOUR, NEW_YORK


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-11-02 10:00:00", "2026-11-02T10:00:00+00:00"),
        ("2026-11-02T10:00:00.500Z", "2026-11-02T10:00:00.500000+00:00"),
        ("1762077600", "2025-11-02T10:00:00+00:00"),
        ("1762077600000", "2025-11-02T10:00:00+00:00"),
    ],
)
def test_report_times_read_in_every_form(value, expected):
    assert report_time(value).isoformat() == expected


def test_the_reach_floor_is_15_calendar_months_back_with_a_day_to_spare():
    assert reach_floor(datetime(2026, 12, 1, 12, tzinfo=timezone.utc)) == datetime(2025, 9, 2, 12, tzinfo=timezone.utc)
    assert reach_floor(datetime(2026, 5, 31, tzinfo=timezone.utc)) == datetime(2025, 3, 1, tzinfo=timezone.utc)  # Feb 28 + 1 day


@pytest.mark.parametrize(
    "value, zone, expected",
    [
        ("2026-11-02 10:00:00.0", NEW_YORK, "2026-11-02T15:00:00.000Z"),
        ("2026-11-02T10:00:00", NEW_YORK, "2026-11-02T15:00:00.000Z"),
        ("2026-07-02 10:00:00.123456789", NEW_YORK, "2026-07-02T14:00:00.123Z"),  # DST; a fraction of any length
        ("2026-11-02T10:00:00.500Z", NEW_YORK, "2026-11-02T10:00:00.500Z"),  # its own offset wins
        ("2026-11-02 10:00:00+05:30", NEW_YORK, "2026-11-02T04:30:00.000Z"),
        ("1762077600", NEW_YORK, "2025-11-02T10:00:00.000Z"),
        ("1762077600000", NEW_YORK, "2025-11-02T10:00:00.000Z"),
        ("2026-11-02 10:00:00", timezone.utc, "2026-11-02T10:00:00.000Z"),
    ],
)
def test_report_times_in_every_format_and_zone(value, zone, expected):
    assert format_timestamp(report_time(value, zone)) == expected


def test_unreadable_report_times_read_as_none():
    assert [report_time(value) for value in ("", "yesterday", "2026-13-02 10:00:00", None, True)] == [None] * 5
    assert not has_offset("2026-11-02 10:00:00") and has_offset("2026-11-02T10:00:00Z") and has_offset("1762077600")


def test_the_interval_echo_shows_the_offset_of_the_wall_clock_at_each_end():
    start, end = datetime(2026, 11, 1, 12, tzinfo=timezone.utc), datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    five_behind = -timedelta(hours=5)
    assert interval_offsets("2026-11-01 07:00:00.0_2026-11-02 07:00:00.0", start, end) == (five_behind, five_behind)
    assert interval_offsets("2026-11-01T12:00:00.000Z/2026-11-02T12:00:00.000Z", start, end) == (timedelta(0), timedelta(0))
    assert interval_offsets("2026-11-01 17:30:00.0_2026-11-02 17:30:00.0", start, end) == (timedelta(hours=5.5),) * 2
    dst_end = datetime(2026, 11, 1, 4, tzinfo=timezone.utc)  # New York leaves DST at 06:00 UTC on 1 November 2026
    assert interval_offsets("2026-10-31 00:00:00.0_2026-11-01 01:00:00.0", dst_end - timedelta(hours=24), dst_end + HOUR * 2) == (
        -timedelta(hours=4),
        -timedelta(hours=5),
    )
    for unusable in (None, "", "P1D", "2026-11-01 00:00:00.0_2026-11-02 07:00:00.0", "2026-11-01 07:07:00.0_2026-11-02 07:07:00.0"):
        assert interval_offsets(unusable, start, end) is None  # absent, one end, ends that disagree, or not a zone's offset


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-11-02", "2026-11-02T00:00:00+00:00"),  # a date alone is its midnight
        ("2026-11-02 10:30", "2026-11-02T10:30:00+00:00"),
        ("2026-11-02 10:30:00.5", "2026-11-02T10:30:00.500000+00:00"),
        ("2026-11-02 10:30:00.123456", "2026-11-02T10:30:00.123456+00:00"),
        ("2026-11-02 10:30:00+05", "2026-11-02T05:30:00+00:00"),  # an offset of whole hours
    ],
)
def test_report_times_without_every_part_read_the_missing_parts_as_zero(value, expected):
    assert report_time(value).isoformat() == expected


def test_the_interval_echo_allows_the_widest_offsets_and_a_rounded_clock_but_nothing_else():
    start, end = datetime(2026, 11, 1, 12, 0, 0, 415000, tzinfo=timezone.utc), datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    fourteen = timedelta(hours=14)  # Kiritimati, the furthest ahead
    assert interval_offsets("2026-11-02 02:00:00.4_2026-11-03 02:00:00.0", start, end) == (fourteen, fourteen)
    assert interval_offsets("2026-11-02 02:15:00.4_2026-11-03 02:15:00.0", start, end) is None  # no zone is 14:15 ahead
    assert interval_offsets("2026-11-01 07:01:30.4_2026-11-02 07:01:30.0", start, end) is None  # 90 s off a quarter hour
    assert interval_offsets("2026-11-01 07:00:00.4_2026-11-02 09:00:00.0", start, end) is None  # no DST shift is 2 h
    assert interval_offsets("yesterday_today", start, end) is None
    assert interval_offsets("2026-11-01 07:00:00.4_", start, end) is None
