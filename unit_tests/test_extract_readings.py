"""The Extract API client under each reading that no document settles (section 7 of the API notes): windows that are
too long, quotas that last until tomorrow, report times in the account's zone, fields over the csv module's limit."""

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import List, Optional
from zoneinfo import ZoneInfo

import pytest

from source_freshchat.config import format_timestamp
from source_freshchat.extract import ReportError
from source_freshchat.extract.jobs import refuses_event, stated_limit
from source_freshchat.extract.times import has_offset, interval_offsets, report_time

from .conftest import API
from .test_extract import REPORTS, STORAGE, FakeClock, client, csv_bytes, links

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 11, 5, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class FakeExtractAPI:
    """Jobs that complete at once with one link; a window over `limit` is refused in `refusal`'s words; `quota` creations."""

    def __init__(self, requests_mock, limit: Optional[timedelta] = None, refusal: str = "Range must not exceed {hours} hours"):
        self.limit, self.refusal = limit, refusal
        self.quota: Optional[int] = None
        self.quota_answer = {"status_code": 429, "headers": {"Retry-After": "36000"}}
        self.windows: List[tuple] = []  # (start, end) of every job created
        self.refused: List[tuple] = []
        self.interval = lambda start, end: f"{start}/{end}"
        requests_mock.post(REPORTS, json=self._create)
        requests_mock.get(re.compile(f"{re.escape(REPORTS)}/"), json=self._poll)
        requests_mock.get(re.compile(re.escape(STORAGE)), content=self._download)

    def _create(self, request, context):
        body = request.json()
        start, end = report_time(body["start"]), report_time(body["end"])
        if self.limit is not None and end - start > self.limit:
            self.refused.append((start, end))
            context.status_code = 400
            return {"code": 400, "status": "BAD_REQUEST", "message": self.refusal.format(hours=self.limit / HOUR)}
        if self.quota is not None and len(self.windows) >= self.quota:
            context.status_code = self.quota_answer["status_code"]
            context.headers.update(self.quota_answer["headers"])
            return {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "Daily limit reached"}
        self.windows.append((start, end))
        return {"id": str(len(self.windows) - 1)}

    def _poll(self, request, context):
        number = int(request.path.rsplit("/", 1)[1])
        start, end = self.windows[number]
        link = {
            "from": format_timestamp(start),
            "to": format_timestamp(end),
            "status": "COMPLETED",
            "link": {"href": f"{STORAGE}/{number}"},
        }
        return {"status": "COMPLETED", "interval": self.interval(start, end), "links": [link]}

    def _download(self, request, context):
        start, end = self.windows[int(request.path.rsplit("/", 1)[1])]
        return csv_bytes([["conversation_id", "created_at"], [f"c-{format_timestamp(start)}", format_timestamp(start)]])


# -- windows -------------------------------------------------------------------------------------
def test_a_refused_window_is_asked_for_again_in_pieces_of_the_limit_it_states_oldest_first(requests_mock, clock, caplog):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=24))
    extract = client(clock)
    read = extract.want("Chat-Transcript", START, END)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        rows = list(extract.rows(read))
    assert api.refused == [(START, END)]  # one refusal: the answer said how long a window may be
    assert api.windows == [(START + timedelta(days=day), START + timedelta(days=day + 1)) for day in range(4)]
    assert [row["created_at"] for row in rows] == [format_timestamp(start) for start, _ in api.windows]
    assert extract.window_hours("Chat-Transcript") == 24 and extract.window_hours("CSAT-Score") is None
    assert any(
        "Freshchat refused a window of 4 days for Chat-Transcript reports (BAD_REQUEST - Range must not exceed 24.0 hours)" in m
        for m in caplog.messages
    )


def test_a_refusal_that_states_no_limit_halves_the_window_until_it_is_accepted(requests_mock, clock):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=20), refusal="Bad request")
    extract = client(clock)
    list(extract.rows(extract.want("CSAT-Score", START, END)))
    assert [end - start for start, end in api.refused] == [timedelta(hours=96), timedelta(hours=48), timedelta(hours=24)]
    assert [end - start for start, end in api.windows] == [timedelta(hours=12)] * 8
    assert api.windows[0][0] == START and api.windows[-1][1] == END


def test_a_window_refused_even_at_an_hour_fails_loudly_with_freshchats_words(requests_mock, clock):
    FakeExtractAPI(requests_mock, limit=timedelta(minutes=30), refusal="The range is too long")
    extract = client(clock)
    with pytest.raises(ReportError, match="and no smaller window is asked for: BAD_REQUEST - The range is too long") as refused:
        list(extract.rows(extract.want("CSAT-Score", START, START + 2 * HOUR)))
    assert not refused.value.refused and not refused.value.quota  # not the "plan has no such report" warning


def test_a_400_that_says_the_event_is_not_offered_refuses_the_event_without_splitting(requests_mock, clock):
    requests_mock.post(REPORTS, status_code=400, json={"status": "BAD_REQUEST", "message": "Event CSAT-Score is not supported"})
    extract = client(clock)
    with pytest.raises(ReportError) as refused:
        list(extract.rows(extract.want("CSAT-Score", START, END)))
    assert refused.value.refused and "Event CSAT-Score is not supported" in refused.value.message
    assert len(requests_mock.request_history) == 1


@pytest.mark.parametrize(
    "message, refuses",
    [
        ("Event Chat-Transcript is not supported for this account", True),
        ("Unknown event Foo; expected one of Agent-Activity, CSAT-Score", True),
        ("Chat-Transcript is not available", True),
        ("The time range for event Chat-Transcript must not exceed 24 hours", False),
        ("Date range is not allowed for this event", False),
        ("not allowed", False),
    ],
)
def test_which_400s_refuse_the_event_rather_than_the_window(message, refuses):
    assert refuses_event(message, "Chat-Transcript") is refuses


def test_the_limit_a_refusal_states_is_the_longest_one_shorter_than_the_window():
    assert stated_limit("Window of 456 days exceeds the limit of 31 days", timedelta(days=456)) == timedelta(days=31)
    assert stated_limit("must not exceed 24 hours", timedelta(hours=24)) is None  # not shorter: halve instead
    assert stated_limit("at most 1 month", timedelta(days=90)) == timedelta(days=28)
    assert stated_limit("too long", timedelta(days=3)) is None


def test_a_window_learned_by_an_earlier_sync_cuts_pieces_before_any_refusal(requests_mock, clock):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=24))
    extract = client(clock)
    extract.learn_window("Chat-Transcript", 24)
    for unreadable in (0.5, "24", True, None, -3):  # an hour is the shortest piece; anything else in state is ignored
        extract.learn_window("Chat-Transcript", unreadable)
    list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert api.refused == [] and len(api.windows) == 4


def test_pieces_are_created_at_most_three_ahead_of_the_one_a_reader_waits_for(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    extract = client(clock)
    extract.learn_window("CSAT-Score", 24)
    pieces = extract.pieces(extract.want("CSAT-Score", START, START + timedelta(days=6)))
    next(pieces)
    assert len(api.windows) == 3
    next(pieces)
    assert len(api.windows) == 4
    assert len(list(pieces)) == 4 and len(api.windows) == 6


# -- quotas --------------------------------------------------------------------------------------
def test_a_quota_that_asks_for_longer_than_the_bound_ends_the_read_at_its_last_finished_piece(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.quota = 2
    extract = client(clock)
    extract.learn_window("Chat-Transcript", 24)
    read = extract.want("Chat-Transcript", START, END)
    finished = [(piece.start, piece.end) for piece in extract.pieces(read)]
    assert finished == api.windows == [(START, START + timedelta(days=1)), (START + timedelta(days=1), START + timedelta(days=2))]
    assert read.deferred is not None and read.deferred.quota
    assert "Daily limit reached" in read.deferred.message and "frees up at about" in read.deferred.message
    assert max(clock.sleeps, default=0) < 600  # the 10 hours Freshchat asked for were not slept
    with pytest.raises(ReportError, match="quota on creating Chat-Transcript reports is used up"):
        list(extract.rows(read))  # a reader that needs every row (the change feed) fails instead


def test_429s_without_advice_end_the_read_once_they_add_up_past_the_bound(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.quota, api.quota_answer = 0, {"status_code": 429, "headers": {}}
    extract = client(clock, report_quota_wait_minutes=3)
    read = extract.want("CSAT-Score", START, END)
    assert list(extract.pieces(read)) == []
    assert read.deferred is not None and "frees up later" in read.deferred.message
    assert clock.sleeps.count(60.0) == 3  # three waits of a minute, the fourth 429 passes the bound


def test_a_short_quota_wait_is_slept_and_the_job_created_after_it(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    requests_mock.post(REPORTS, [{"status_code": 429, "headers": {"Retry-After": "45"}, "json": {}}, {"json": api._create}])
    extract = client(clock)
    read = extract.want("CSAT-Score", START, END)
    assert len(list(extract.pieces(read))) == 1 and read.deferred is None and 45.0 in clock.sleeps


def test_a_poll_that_asks_for_a_long_wait_waits_no_longer_than_the_quota_bound(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(
        f"{REPORTS}/j1",
        [{"status_code": 429, "headers": {"Retry-After": "86400"}, "json": {}}, {"json": {"status": "COMPLETED", "links": []}}],
    )
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert max(clock.sleeps) == pytest.approx(600.0)


# -- times ---------------------------------------------------------------------------------------
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


def test_times_without_an_offset_are_read_in_the_zone_the_echo_shows_confirmed_by_the_account(requests_mock, clock, caplog):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: f"{start.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}.0_{end.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}.0"
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T15:00:00.000Z"
        assert format_timestamp(extract.report_time("2026-07-02 10:00:00")) == "2026-07-02T14:00:00.000Z"  # the zone's DST
        assert format_timestamp(extract.report_time("2026-11-02T10:00:00Z")) == "2026-11-02T10:00:00.000Z"
    assert [m for m in caplog.messages if "written without an offset" in m] == [
        "Report times written without an offset are read as America/New_York: the account's time zone, which Freshchat's echo "
        "of a report's window confirms"
    ]
    assert extract.time_is_certain("2026-11-02 10:00:00")


def test_an_echo_whose_offset_the_account_does_not_confirm_gives_a_fixed_offset(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: f"{start + 2 * HOUR:%Y-%m-%d %H:%M:%S}_{end + 2 * HOUR:%Y-%m-%d %H:%M:%S}"
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "Etc/UTC"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T08:00:00.000Z"


def test_an_echo_in_utc_needs_no_look_at_the_account(requests_mock, clock):
    FakeExtractAPI(requests_mock)
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T10:00:00.000Z"
    assert not [request for request in requests_mock.request_history if "configuration" in request.path]


def test_without_an_echo_the_accounts_zone_is_used_and_its_times_are_not_certain(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T15:00:00.000Z"
    assert not extract.time_is_certain("2026-11-02 10:00:00") and extract.time_is_certain("2026-11-02T10:00:00Z")


@pytest.mark.parametrize(
    "account", [{"json": {"account_id": "a1"}}, {"status_code": 403, "json": {}}, {"json": {"timezone": "Mars/Olympus"}}]
)
def test_where_nothing_tells_the_zone_times_read_as_utc_with_one_warning(requests_mock, clock, caplog, account):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    requests_mock.get(f"{API}/accounts/configuration", **account)
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        times = [extract.report_time(value) for value in ("2026-11-02 10:00:00", "2026-11-03 10:00:00")]
    assert [format_timestamp(moment) for moment in times] == ["2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z"]
    warnings = [record.message for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "Report times written without an offset are read as UTC: nothing tells their zone (no echo of a report's "
        "window, no time zone in the account's configuration)"
    ]
    assert len([request for request in requests_mock.request_history if "configuration" in request.path]) == 1


# -- rows ----------------------------------------------------------------------------------------
def test_a_field_of_ten_megabytes_reads_whole(requests_mock, clock):
    text = "x" * 10_000_000
    requests_mock.post(REPORTS, json={"id": "j1"})
    link = {"from": format_timestamp(START), "to": format_timestamp(END), "link": {"href": f"{STORAGE}/big.csv"}}
    requests_mock.get(f"{REPORTS}/j1", json={"status": "COMPLETED", "links": [link]})
    requests_mock.get(f"{STORAGE}/big.csv", content=csv_bytes([["message_id", "message_parts"], ["m1", text], ["m2", "short"]]))
    extract = client(clock)
    rows = list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert [len(row["message_parts"]) for row in rows] == [10_000_000, 5]
