"""The readings `diagnose` draws from raw answers, on answers made up to pin each rule; end to end: integration_tests/test_diagnose.py."""

import io
import json
import sys
import zipfile
from datetime import datetime, timezone

import pytest
import requests

from source_freshchat import diagnose as diagnose_package
from source_freshchat.config import parse_settings
from source_freshchat.diagnose import chosen_events
from source_freshchat.diagnose.common import Api, Pace, scrub, time_format
from source_freshchat.diagnose.reports import JobProbe, interval_finding, payload_finding, quota_finding, zone_finding
from source_freshchat.diagnose.rest import Reading, window_timing
from source_freshchat.run import run
from source_freshchat.streams.report_events import EVENTS

from .conftest import API, API_KEY, CONFIG

START, END = datetime(2026, 1, 15, 12, tzinfo=timezone.utc), datetime(2026, 1, 16, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, scrubbed",
    [
        ("user 0f8fad5b-d9cb-469f-a165-70867728950e not found", "user <uuid> not found"),
        ("no account for ops.lead@acme.example", "no account for <email>"),
        ("conversation 48151623 of org 1234567890123", "conversation <number> of org <number>"),
        ("see https://s3.example/exports/1.zip?X-Amz-Signature=abc&X-Amz-Date=1", "see https://s3.example/exports/1.zip?<query>"),
        ("token eyJhbGciOiJIUzI1NiJ9abc123XYZ refused", "token <token> refused"),
        # Freshchat's own words stay: event names, short numbers, dates, words
        ("Event Chat-Transcript over 24 hours since 2026-01-15", "Event Chat-Transcript over 24 hours since 2026-01-15"),
    ],
)
def test_the_scrubber_replaces_what_could_identify_an_account_and_keeps_the_apis_words(text, scrubbed):
    assert scrub(text) == scrubbed


def test_the_scrubber_removes_a_given_secret_even_a_short_one_and_cuts_long_messages():
    assert scrub("bad key k3y", "k3y") == "bad key <secret>"
    long_message = scrub("word " * 100)
    assert len(long_message) == 300 and long_message.endswith("…")


@pytest.mark.parametrize(
    "value, written",
    [
        ("2025-07-10T19:47:55.442Z", {"format": "iso", "offset": "Z", "shape": "9999-99-99T99:99:99.999Z"}),
        ("2025-07-10T19:47:55+05:30", {"format": "iso", "offset": "+hh:mm", "shape": "9999-99-99T99:99:99+99:99"}),
        ("2025-07-10T19:47:55.442", {"format": "iso", "offset": "none", "shape": "9999-99-99T99:99:99.999"}),
        ("2025-07-10 19:47:55.4", {"format": "space", "offset": "none", "shape": "9999-99-99 99:99:99.9"}),
        ("2025-07-10 19:47:55-0500", {"format": "space", "offset": "+hhmm", "shape": "9999-99-99 99:99:99-9999"}),
        ("2025-07-10", {"format": "date", "offset": "none", "shape": "9999-99-99"}),
        ("1752176875", {"format": "epoch_s", "offset": "UTC (epoch)", "shape": "9999999999"}),
        ("1752176875442", {"format": "epoch_ms", "offset": "UTC (epoch)", "shape": "9999999999999"}),
        ("yesterday", None),
    ],
)
def test_a_report_time_is_kept_as_its_format_never_its_value(value, written):
    assert time_format(value) == written


def reading(sent: float, reset: float, remaining: int = 99, limit: int = 100, round_trip: float = 0.05) -> Reading:
    return Reading(sent, sent + round_trip, limit, remaining, reset)


def test_two_windows_that_last_as_long_from_their_opening_request_open_at_the_first_request():
    # 60 s windows opened by the request, resets rounded up: 1000.3 + 60 -> 1061; 1091.35 + 60 -> 1152
    opener, later = reading(1000.3, 1061), reading(1091.35, 1152)
    assert window_timing("up", opener, later, offset=30) == {
        "window_opens": "at the first request",
        "window_seconds": 60,
        "window_seconds_range": [59.65, 60.65],
    }


def test_a_window_opened_later_in_its_beat_that_ends_sooner_opens_on_the_clock():
    opener, later = reading(1020.05, 1080), reading(1110.05, 1140)  # both windows end on multiples of 60
    assert window_timing("up", opener, later, offset=30) == {"window_opens": "on the clock", "window_seconds": 60}
    opener, later = reading(1021.05, 1081), reading(1111.05, 1141)  # a fixed beat, not on multiples of its length
    assert window_timing("up", opener, later, offset=30)["window_opens"] == "at fixed moments"


def test_a_reset_rounded_down_bounds_the_window_from_the_other_side():
    opener = reading(1000.3, 1060)  # 1060.3 rounded down
    finding = window_timing("down", opener, None, offset=30)
    assert finding == {"window_opens": "not measured", "window_seconds": 60, "window_seconds_range": [59.65, 60.7]}


def test_a_window_not_a_whole_number_of_seconds_is_given_by_its_bounds():
    opener = reading(1000.0, 1003, round_trip=0.01)  # 2.5 s windows: 1002.5 rounded up
    assert window_timing("up", opener, None, offset=1.5) == {
        "window_opens": "not measured",
        "window_seconds": 2.5,
        "window_seconds_range": [1.99, 3.0],
    }


@pytest.mark.parametrize(
    "interval, expected",
    [
        (
            "2026-01-15T12:00:00.000Z/2026-01-16T12:00:00.000Z",
            {"echo": "the window asked", "written_with_offset": True, "utc_offset": "UTC+00:00"},
        ),
        (
            "2026-01-15 12:00:00.0_2026-01-16 12:00:00.0",
            {"echo": "the window asked", "written_with_offset": False, "utc_offset": "UTC+00:00"},
        ),
        (
            "2026-01-15 07:00:00.0_2026-01-16 07:00:00.0",
            {"echo": "the window asked", "written_with_offset": False, "utc_offset": "UTC-05:00"},
        ),
        (
            "2026-01-15 17:30:00.0_2026-01-16 17:30:00.0",
            {"echo": "the window asked", "written_with_offset": False, "utc_offset": "UTC+05:30"},
        ),
        ("2026-01-14 12:00:00.0_2026-01-16 12:00:00.0", {"echo": "not the window asked, or unreadable"}),  # a day off
        ("2026-01-15 12:07:00.0_2026-01-16 12:00:00.0", {"echo": "not the window asked, or unreadable"}),  # no zone's offset
        ("2026-01-15", {"echo": "not the window asked, or unreadable"}),
    ],
)
def test_the_interval_echo_gives_the_zone_report_times_are_written_in(interval, expected):
    finding = interval_finding(interval, START, END)
    assert {key: value for key, value in finding.items() if key != "shape"} == expected
    assert finding["shape"] == interval.translate(str.maketrans("0123456789", "9" * 10))


def test_no_interval_echo_is_reported_as_absent():
    assert interval_finding(None, START, END) == {"echo": "absent"}


SECRET_VALUE = "Zanzibarius the customer"


def csv_bytes(header, rows) -> bytes:
    text = io.StringIO()
    text.write(",".join(header) + "\r\n")
    for row in rows:
        text.write(",".join(row) + "\r\n")
    return text.getvalue().encode("utf-8-sig")


def test_a_zip_reports_its_files_header_as_served_rows_and_time_formats_but_no_value():
    header = ["Conversation ID", "User ID", "Channel ID", "Group ID", "Created At"]
    first = csv_bytes(header, [["c1", SECRET_VALUE, "", "", "2026-01-15 07:00:00"]])
    second = csv_bytes(header, [["c2", "u2", "", "", "1768478400"], ["c3", "u3", "", "", "2026-01-15 08:00:00"]])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.csv", first)
        zipped.writestr("b.csv", second)
    finding = payload_finding(archive, "Conversation-Created")
    assert finding == {
        "payload": "zip",
        "files": 2,
        "header": header,
        "columns": ["conversation_id", "user_id", "channel_id", "group_id", "created_at"],
        "time_column": "created_at",
        "time_column_expected": "created_at",
        "rows": 3,
        "time_formats": [
            {"format": "space", "offset": "none", "shape": "9999-99-99 99:99:99"},
            {"format": "epoch_s", "offset": "UTC (epoch)", "shape": "9999999999"},
        ],
    }
    assert SECRET_VALUE not in json.dumps(finding) and "c1" not in json.dumps(finding)


def test_a_plain_csv_whose_time_column_has_another_name_is_read_by_the_first_time_like_column():
    payload = io.BytesIO(csv_bytes(["message_id", "sent_time", "agent_id"], [["m1", "not a time", "a1"]]))
    finding = payload_finding(payload, "Message-Sent")
    assert (finding["payload"], finding["files"], finding["rows"]) == ("csv", 1, 1)
    assert (finding["time_column"], finding["time_column_expected"]) == ("sent_time", "created_at")
    assert finding["time_formats"] == [{"format": "unrecognised"}]


def job(event: str, outcome: str, *retry_afters) -> JobProbe:
    probe = JobProbe(event, START, END, "24 h", {"outcome": outcome})
    if retry_afters:
        probe.finding["throttled"] = [{"status": 429, "message": "quota", "retry_after_seconds": seconds} for seconds in retry_afters]
    return probe


def test_the_quota_scope_is_read_from_what_is_accepted_after_an_event_is_refused_for_good():
    per_event = [job("Conversation-Created", "completed"), job("Conversation-Created", "quota", 40000), job("CSAT-Score", "completed")]
    assert quota_finding(per_event) == {
        "throttled_creations": 1,
        "retry_after_seconds": [40000],
        "without_retry_after": 0,
        "messages": ["quota"],
        "refused_events": ["Conversation-Created"],
        "scope": "per event",
    }
    per_account = [job("Conversation-Created", "quota", None, None), job("CSAT-Score", "quota", None), job("Message-Sent", "refused")]
    finding = quota_finding(per_account)
    assert (finding["scope"], finding["without_retry_after"], finding["throttled_creations"]) == ("per account", 3, 3)
    assert quota_finding([job("CSAT-Score", "completed"), job("CSAT-Score", "quota", 9000)])["scope"] == "unknown"
    waited_out = [job("CSAT-Score", "completed", 1, 1)]
    assert quota_finding(waited_out) | {"throttled_creations": 2} == quota_finding(waited_out)
    assert quota_finding(waited_out)["scope"] == "not reached"


def echo(utc_offset: str, written_with_offset: bool = False) -> dict:
    return {"interval_echo": {"echo": "the window asked", "written_with_offset": written_with_offset, "utc_offset": utc_offset}}


def test_the_zone_compares_the_echo_with_the_accounts_timezone_without_naming_it():
    events = {"Conversation-Created": echo("UTC-05:00")}
    assert zone_finding(events, "America/New_York", START) == {
        "report_times": "wall clock without offset, UTC-05:00",
        "account_timezone": "agrees",
    }
    assert zone_finding(events, "Asia/Kolkata", START)["account_timezone"] == "differs (UTC+05:30)"
    assert zone_finding(events, "Not/AZone", START)["account_timezone"] == "not a zone name"
    assert zone_finding(events, None, START)["account_timezone"] == "absent"
    assert zone_finding({"CSAT-Score": echo("UTC+00:00", True)}, "Etc/UTC", START) == {
        "report_times": "written with their offset",
        "account_timezone": "present",
    }
    assert zone_finding({"CSAT-Score": {"interval_echo": {"echo": "absent"}}}, None, START)["report_times"].startswith("unknown")


def test_events_are_all_none_or_a_list_of_known_names():
    assert chosen_events("all") == list(EVENTS) and chosen_events("none") == []
    assert chosen_events(" CSAT-Score, Chat-Transcript ") == ["CSAT-Score", "Chat-Transcript"]
    with pytest.raises(ValueError, match="unknown event\\(s\\) CSAT"):
        chosen_events("CSAT,Chat-Transcript")


def test_a_throttled_rest_probe_waits_as_asked_and_a_longer_wait_is_returned_not_waited(requests_mock):
    waits = []
    api = Api(parse_settings(CONFIG), Pace(quota_wait_seconds=10), sleep=waits.append)
    requests_mock.get(f"{API}/accounts/configuration", [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"json": {"id": 1}}])
    answer = api.call("GET", "accounts/configuration")
    assert (answer.status, waits, api.requests, api.throttled) == (200, [3.0], 2, 1)
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {API_KEY}"
    requests_mock.get(f"{API}/accounts/configuration", [{"status_code": 429, "headers": {"Retry-After": "3600"}}])
    assert api.call("GET", "accounts/configuration").retry_after == 3600 and waits == [3.0]
    requests_mock.post(f"{API}/reports/raw", [{"status_code": 429, "json": {"status": "TOO_MANY_REQUESTS", "message": "Daily limit"}}])
    throttled = api.call("POST", "reports/raw", json={}, wait_if_throttled=False)
    assert throttled.refusal(API_KEY) == {"status": 429, "message": "TOO_MANY_REQUESTS - Daily limit"} and throttled.retry_after is None


def test_the_console_script_hands_diagnose_its_own_arguments_and_exits_with_its_code(monkeypatch, mocker):
    main = mocker.patch.object(diagnose_package, "main", return_value=1)
    monkeypatch.setattr(sys, "argv", ["source-freshchat", "diagnose", "--config", "c.json", "--events", "none"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 1
    main.assert_called_once_with(["--config", "c.json", "--events", "none"])


def test_a_config_the_connector_refuses_stops_diagnose_with_its_message(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG, "domain": "evil.example.com"}))
    assert diagnose_package.main(["--config", str(config), "--output", str(tmp_path / "out.json")]) == 2
    assert "is not a Freshchat host" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_an_unreachable_freshchat_still_writes_what_was_found_and_exits_1(tmp_path, capsys, requests_mock):
    config, output = tmp_path / "config.json", tmp_path / "out.json"
    config.write_text(json.dumps(CONFIG))
    requests_mock.get(f"{API}/accounts/configuration", exc=requests.ConnectionError(f"{API}/accounts/configuration refused"))
    assert diagnose_package.main(["--config", str(config), "--output", str(output)]) == 1
    report = json.loads(output.read_text())
    assert report["error"] == "could not reach Freshchat: ConnectionError" and report["account"] == {}
    assert "Stopped early, could not reach Freshchat: ConnectionError" in capsys.readouterr().out
