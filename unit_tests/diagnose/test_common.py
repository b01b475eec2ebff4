"""What every probe of `diagnose` shares: the scrubber, time values kept as their shape, and the HTTP client's waits
on 429; end to end: integration_tests/test_diagnose.py."""

import pytest

from source_freshchat.config import parse_settings
from source_freshchat.diagnose.common import Api, Pace, scrub, time_format

from ..conftest import API, API_KEY, CONFIG


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
