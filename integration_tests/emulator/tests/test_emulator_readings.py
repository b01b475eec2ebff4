"""The emulator's readings of what no document settles about the Extract API (see the README's report streams section), over real HTTP.

Each reading is a Behaviour option; the connector's tests run against each, so these tests pin what each one serves.
"""

import csv
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests

from integration_tests.emulator import Behaviour
from integration_tests.emulator.__main__ import parse_args, window_limits
from integration_tests.emulator.data import ms_from_iso

from . import test_emulator_reports
from .test_emulator_reports import days_ago, download, table

NEW_YORK = "America/New_York"


# The fixtures of the Extract API's own tests: a small recent dataset, one link per job, and a client of its routes.
emu, reports = test_emulator_reports.emu, test_emulator_reports.reports


def test_a_window_longer_than_the_events_limit_is_refused_as_a_bad_request_in_the_configured_words(reports, emu):
    emu.behaviour.report_max_window_hours = {"Chat-Transcript": 24}
    refused = reports.create("Chat-Transcript", days_ago(2), days_ago(0))
    assert refused.status_code == 400
    message = "The time range between start and end must not exceed 24 hours"
    assert refused.json() == {"code": 400, "status": "BAD_REQUEST", "message": message}
    assert reports.create("Chat-Transcript", days_ago(1), days_ago(0)).status_code == 202  # exactly the limit is accepted
    assert reports.create("CSAT-Score", days_ago(400), days_ago(0)).status_code == 202  # other events have no limit
    emu.behaviour.report_max_window_hours = {"*": 48, "CSAT-Score": 720}
    emu.behaviour.report_window_refusal = "Range of {event} over {days:g} days"
    assert reports.create("Chat-Transcript", days_ago(3), days_ago(0)).json()["message"] == "Range of Chat-Transcript over 2 days"
    assert reports.create("CSAT-Score", days_ago(29), days_ago(0)).status_code == 202


def test_a_daily_quota_per_event_answers_429_until_the_next_utc_day(reports, emu):
    emu.behaviour.report_daily_quota = 2
    assert [reports.create("CSAT-Score").status_code for _ in range(3)] == [202, 202, 429]
    over = reports.create("CSAT-Score")
    now = datetime.now(timezone.utc)
    to_midnight = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc) - now).total_seconds()
    assert abs(int(over.headers["Retry-After"]) - to_midnight) <= 2
    assert over.json()["message"] == "Daily limit of 2 report requests reached for event CSAT-Score; try again tomorrow"
    assert reports.create("Chat-Transcript").status_code == 202  # each event has its own quota
    assert reports.create("CSAT-Score", end=days_ago(401)).status_code == 400  # a refused request is answered before the quota
    emu.new_day()
    assert reports.create("CSAT-Score").status_code == 202


def test_a_daily_quota_per_account_counts_every_event_and_may_give_no_advice(reports, emu):
    emu.behaviour.report_daily_quota, emu.behaviour.report_daily_quota_scope = 1, "account"
    emu.behaviour.report_daily_quota_retry_after = False
    assert reports.create("CSAT-Score").status_code == 202
    over = reports.create("Chat-Transcript")
    assert over.status_code == 429 and "Retry-After" not in over.headers
    assert over.json()["message"] == "Daily limit of 1 report requests reached; try again tomorrow"


def test_report_times_in_the_accounts_zone_carry_no_offset_in_rows_links_and_the_interval(reports, emu):
    emu.behaviour.report_time_zone = NEW_YORK
    start, end = days_ago(400), days_ago(-1 / 24)
    body = reports.completed(reports.job_id("First-Response-Time", start, end))
    local = ZoneInfo(NEW_YORK)

    def utc_of(wall: str) -> datetime:
        return datetime.fromisoformat(wall).replace(tzinfo=local).astimezone(timezone.utc)

    echoed_start, echoed_end = body["interval"].split("_")
    assert abs(utc_of(echoed_start).timestamp() * 1000 - ms_from_iso(start)) < 100  # the interval: tenths of a second
    assert abs(utc_of(echoed_end).timestamp() * 1000 - ms_from_iso(end)) < 100
    (link,) = body["links"]
    assert "T" not in link["from"] and "Z" not in link["to"]
    rows = table(download(link))
    truth = emu.data.report_rows("First-Response-Time", start, end)
    assert len(rows) == len(truth) > 0
    for row, expected in zip(rows, truth):
        assert "+" not in row["created_at"] and not row["created_at"].endswith("Z")
        assert utc_of(row["created_at"]) == datetime.fromisoformat(expected["created_at"])
    account = requests.get(emu.url + "/v2/accounts/configuration", headers=reports.session.headers, timeout=5).json()
    assert account["timezone"] == NEW_YORK


def test_without_an_interval_echo_or_an_account_zone_nothing_tells_the_zone(reports, emu):
    emu.behaviour.report_time_zone, emu.behaviour.report_interval_echo, emu.behaviour.account_time_zone = NEW_YORK, False, False
    body = reports.completed(reports.job_id("CSAT-Score"))
    assert "interval" not in body and body["status"] == "COMPLETED"
    account = requests.get(emu.url + "/v2/accounts/configuration", headers=reports.session.headers, timeout=5).json()
    assert "timezone" not in account and account["account_id"]


@pytest.mark.parametrize(
    "time_format, expected",
    [
        ("epoch_s", lambda iso: str(ms_from_iso(iso) // 1000)),
        ("epoch_ms", lambda iso: str(ms_from_iso(iso))),
        ("space", lambda iso: iso[:10] + " " + iso[11:23]),
    ],
)
def test_row_times_in_each_format(reports, emu, time_format, expected):
    emu.behaviour.report_time_format = time_format
    (link,) = reports.links("Chat-Transcript")
    rows = table(download(link))
    truth = emu.data.report_rows("Chat-Transcript", link["from"], link["to"])
    assert len(rows) == len(truth) > 0
    assert [row["created_time"] for row in rows] == [expected(row["created_time"]) for row in truth]


@pytest.fixture
def unlimited_csv_fields():
    """The test's own CSV reader needs Python's field limit lifted; the process-wide limit is restored after."""
    limit = csv.field_size_limit(1 << 30)
    yield
    csv.field_size_limit(limit)


def test_a_long_message_is_one_whole_field_of_the_transcript(reports, emu, unlimited_csv_fields):
    conversation_id = next(iter(emu.data.conversations))
    text = 'log line, with "quotes"\n' * 20_000  # about 480 kB: over Python's csv field limit of 131,072
    emu.data.add_message(conversation_id, actor_type="user", message_parts=[{"text": {"content": text}}])
    (row,) = [row for row in reports.rows("Chat-Transcript", days_ago(1), days_ago(-1)) if len(row["message_parts"]) > 131_072]
    assert json.loads(row["message_parts"]) == [{"text": {"content": text}}]


def test_pieces_without_rows_may_have_no_link(reports, emu):
    emu.behaviour.report_link_hours = 24
    emu.data.add_message(next(iter(emu.data.conversations)), actor_type="user")  # now: only the last piece has a row
    start, end = days_ago(3), days_ago(-1 / 24)
    assert len(reports.links("Chat-Transcript", start, end)) == 4
    emu.behaviour.report_links_of_empty_pieces = False
    (link,) = reports.links("Chat-Transcript", start, end)
    assert link["to"] == end and len(table(download(link))) == 1
    assert reports.links("Chat-Transcript", days_ago(5), days_ago(4)) == []


def test_unknown_readings_are_refused_when_the_behaviour_is_made():
    for bad in ({"report_daily_quota_scope": "planet"}, {"report_time_format": "rfc2822"}, {"report_time_zone": "Mars/Olympus"}):
        with pytest.raises(Exception):
            Behaviour(**bad)


def test_the_command_line_sets_every_reading():
    args = parse_args(
        ["--report-max-window", "Chat-Transcript=24", "--report-max-window", "720", "--report-daily-quota", "120"]
        + ["--report-time-zone", NEW_YORK, "--no-report-interval", "--report-time-format", "space", "--long-message-chars", "10"]
        + ["--no-report-links-of-empty-pieces"]
    )
    assert window_limits(args.report_max_window) == {"Chat-Transcript": 24.0, "*": 720.0}
    assert (args.report_daily_quota, args.report_time_zone, args.report_time_format) == (120, NEW_YORK, "space")
    assert args.no_report_interval and args.no_report_links_of_empty_pieces
    assert args.long_message_chars == 10 and args.report_daily_quota_scope == "event" and not args.no_account_time_zone
