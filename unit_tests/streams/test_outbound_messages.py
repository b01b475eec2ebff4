"""Outbound messages: `created_on` is epoch seconds or milliseconds, told apart by magnitude; an account may refuse the list."""

import time

import pytest

from source_freshchat.streams.outbound_messages import with_created_time

from ..conftest import API, envelope, records_of, run_read


@pytest.mark.parametrize(
    "created_on,created_time",
    [
        (1713432475, "2024-04-18T09:27:55.000Z"),  # seconds, as Freshchat's documented example
        (1713432475442, "2024-04-18T09:27:55.442Z"),  # milliseconds
        (150_000_000_000, "1974-10-03T02:40:00.000Z"),  # the smallest magnitudes read as milliseconds: 1e11 and up
        (99_999_999_999, "5138-11-16T09:46:39.000Z"),  # and the largest read as seconds
    ],
)
def test_created_on_becomes_created_time_in_seconds_or_milliseconds_by_magnitude(created_on, created_time):
    assert with_created_time({"created_on": created_on})["created_time"] == created_time


def test_created_time_is_utc_whatever_the_machines_timezone(monkeypatch):
    """New York's two 01:30s of 2023-11-05, each way round: a naive local time is ambiguous there, read as either."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        first, second = {"created_on": 1699162200}, {"created_on": 1699165800}
        times = [with_created_time(record)["created_time"] for record in (first, second, second, first)]
        assert times == ["2023-11-05T05:30:00.000Z", "2023-11-05T06:30:00.000Z", "2023-11-05T06:30:00.000Z", "2023-11-05T05:30:00.000Z"]
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("status", [400, 404])
def test_outbound_messages_refused_by_the_account_is_an_empty_stream_with_a_warning(requests_mock, status):
    requests_mock.get(
        f"{API}/outbound-messages", status_code=status, json={"code": status, "status": "BAD_REQUEST", "message": "request_id is required"}
    )
    output = run_read(["outbound_messages"])
    assert records_of(output, "outbound_messages") == []
    assert not output.errors
    assert any("does not list outbound messages" in log.log.message and log.log.level.name == "WARN" for log in output.logs)


def test_outbound_messages_keep_a_created_time_they_have_and_records_without_created_on():
    for record in ({"message_id": "1"}, {"created_on": 1735689600000, "created_time": "given"}, {"created_on": True}):
        assert with_created_time(record) == record


def test_a_read_gives_every_outbound_message_its_created_time(requests_mock):
    page = [{"message_id": "1", "created_on": 1713432475}, {"message_id": "2", "created_on": 1713432475442}]
    requests_mock.get(f"{API}/outbound-messages", json=envelope("outbound_messages", page))
    records = records_of(run_read(["outbound_messages"]), "outbound_messages")
    assert [(record["message_id"], record["created_time"]) for record in records] == [
        ("1", "2024-04-18T09:27:55.000Z"),
        ("2", "2024-04-18T09:27:55.442Z"),
    ]
