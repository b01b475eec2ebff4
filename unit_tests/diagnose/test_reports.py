"""The Extract API probes of `diagnose`: the interval echo, payloads, the quota's scope and the zone, read from answers
made up to pin each rule; end to end: integration_tests/test_diagnose.py."""

import io
import json
import zipfile
from datetime import datetime, timezone

import pytest

from source_freshchat.diagnose.reports import JobProbe, interval_finding, payload_finding, quota_finding, zone_finding

START, END = datetime(2026, 1, 15, 12, tzinfo=timezone.utc), datetime(2026, 1, 16, 12, tzinfo=timezone.utc)


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
