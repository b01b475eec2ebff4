import logging
import time
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_freshchat import SourceFreshchat
from source_freshchat.config import (
    DEFAULT_DISCOVERY_MODE,
    DEFAULT_FEED_OVERLAP_MINUTES,
    DEFAULT_FULL_WALK_INTERVAL_DAYS,
    DEFAULT_NUM_WORKERS,
    DEFAULT_REPORT_QUOTA_WAIT_MINUTES,
    DEFAULT_REPORT_WAIT_MINUTES,
    DISCOVERY_MODES,
    MAX_FEED_OVERLAP_MINUTES,
    MAX_FULL_WALK_INTERVAL_DAYS,
    MAX_NUM_WORKERS,
    MAX_REPORT_QUOTA_WAIT_MINUTES,
    MAX_REPORT_WAIT_MINUTES,
    format_timestamp,
    parse_api_key,
    parse_domain,
    parse_num_workers,
    parse_settings,
    parse_start_date,
)


@pytest.mark.parametrize(
    "domain, origin",
    [
        ("acme", "https://acme.freshchat.com"),
        ("  ACME  ", "https://acme.freshchat.com"),
        ("acme.freshchat.com", "https://acme.freshchat.com"),
        ("acme-123-abc.freshchat.com", "https://acme-123-abc.freshchat.com"),
        ("api.eu.freshchat.com", "https://api.eu.freshchat.com"),
        ("api.in.freshchat.com", "https://api.in.freshchat.com"),
        ("api.au.freshchat.com", "https://api.au.freshchat.com"),
        ("api.freshchat.com", "https://api.freshchat.com"),
        ("https://acme.freshchat.com", "https://acme.freshchat.com"),
        ("https://acme.freshchat.com/", "https://acme.freshchat.com"),
        ("https://acme.freshchat.com/v2", "https://acme.freshchat.com"),
        ("https://acme.freshchat.com/v2/", "https://acme.freshchat.com"),
        ("acme.freshchat.com/v2", "https://acme.freshchat.com"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://127.0.0.1:9000/v2", "http://127.0.0.1:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://localhost", "https://localhost"),
        ("localhost:8080", "https://localhost:8080"),
    ],
)
def test_domain_accepts_freshchat_and_loopback_hosts(domain, origin):
    assert parse_domain(domain) == origin


@pytest.mark.parametrize(
    "domain, complaint",
    [
        ("", "required"),
        ("   ", "required"),
        (None, "required"),
        (42, "must be a string"),
        ("evil.com", "not a Freshchat host"),
        ("acme.freshchat.com.evil.com", "not a Freshchat host"),
        ("freshchat.com", "not a Freshchat host"),
        ("acme.myfreshworks.com", "not a Freshchat host"),
        ("acme.bad_label.freshchat.com", "not a Freshchat host"),  # every label must be a host name's, not only some
        ("http://acme.freshchat.com", "https://"),
        ("http://10.0.0.5:8080", "https://"),
        ("http://192.168.1.10", "https://"),
        ("https://8.8.8.8", "not a Freshchat host"),
        ("https://user:pass@acme.freshchat.com", "credentials"),
        ("https://acme.freshchat.com/v2/users", "path"),
        ("https://acme.freshchat.com/?x=1", "path"),
        ("https://acme.freshchat.com:8443", "port"),
        ("ftp://acme.freshchat.com", "https://"),
        ("acmé", "not a Freshchat host"),
        ("a" * 300, "not a Freshchat host"),
    ],
)
def test_domain_refuses_other_hosts_with_an_example(domain, complaint):
    with pytest.raises(AirbyteTracedException) as error:
        parse_domain(domain)
    assert error.value.failure_type == FailureType.config_error
    assert complaint in error.value.message
    assert "acme.freshchat.com" in error.value.message


@pytest.mark.parametrize("value", ["tok.en-1_2", "Bearer tok.en-1_2", "bearer   tok.en-1_2", "  tok.en-1_2\n"])
def test_api_key_tolerates_bearer_prefix_and_whitespace(value):
    assert parse_api_key(value) == "tok.en-1_2"


@pytest.mark.parametrize("value", ["", "  ", None, 12, "two words", "tökén", "Bearer "])
def test_api_key_refuses_what_a_header_cannot_carry(value):
    with pytest.raises(AirbyteTracedException) as error:
        parse_api_key(value)
    assert error.value.failure_type == FailureType.config_error
    assert "api_key" in error.value.message


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=timezone.utc)),
        ("2024-01-31T10:20:30Z", datetime(2024, 1, 31, 10, 20, 30, tzinfo=timezone.utc)),
        ("2024-01-31T10:20:30.123Z", datetime(2024, 1, 31, 10, 20, 30, 123000, tzinfo=timezone.utc)),
        ("2024-01-31T12:20:30+02:00", datetime(2024, 1, 31, 10, 20, 30, tzinfo=timezone.utc)),
        ("2024-01-31T10:20:30", datetime(2024, 1, 31, 10, 20, 30, tzinfo=timezone.utc)),
    ],
)
def test_start_date_formats(value, expected):
    assert parse_start_date(value) == expected


@pytest.mark.parametrize(
    "value, complaint",
    [("31/01/2024", "ISO-8601"), ("2024-13-01", "ISO-8601"), ("yesterday", "ISO-8601"), (20240131, "string"), ("2999-01-01", "future")],
)
def test_start_date_refuses_malformed_and_future_values(value, complaint):
    with pytest.raises(AirbyteTracedException) as error:
        parse_start_date(value)
    assert error.value.failure_type == FailureType.config_error
    assert complaint in error.value.message


@pytest.mark.parametrize("value", [0, 33, "8", True, 2.5])
def test_num_workers_range(value):
    with pytest.raises(AirbyteTracedException):
        parse_num_workers(value)


def test_spec_documents_the_num_workers_the_code_uses():
    spec = SourceFreshchat().spec(logging.getLogger("airbyte")).connectionSpecification["properties"]["num_workers"]
    assert (spec["default"], spec["maximum"]) == (DEFAULT_NUM_WORKERS, MAX_NUM_WORKERS)
    assert parse_settings({"domain": "acme", "api_key": "key"}).num_workers == DEFAULT_NUM_WORKERS


def test_timestamps_use_freshchat_format():
    assert format_timestamp(datetime(2025, 7, 10, 19, 47, 55, 442999, tzinfo=timezone.utc)) == "2025-07-10T19:47:55.442Z"


def test_an_over_long_api_key_is_refused_before_any_request():
    with pytest.raises(AirbyteTracedException) as error:
        parse_api_key("x" * 100_000)
    assert "100000 characters" in error.value.message


def test_an_over_long_start_date_is_refused():
    with pytest.raises(AirbyteTracedException) as error:
        parse_start_date("2024-01-01" + "0" * 5000)
    assert "ISO-8601" in error.value.message and len(error.value.message) < 200


DISCOVERY_KEYS = {
    # key: (default, minimum, maximum, the setting it becomes)
    "full_walk_interval_days": (DEFAULT_FULL_WALK_INTERVAL_DAYS, 1, MAX_FULL_WALK_INTERVAL_DAYS, lambda s: s.full_walk_interval.days),
    "feed_overlap_minutes": (DEFAULT_FEED_OVERLAP_MINUTES, 0, MAX_FEED_OVERLAP_MINUTES, lambda s: s.feed_overlap.total_seconds() / 60),
    "report_wait_minutes": (DEFAULT_REPORT_WAIT_MINUTES, 1, MAX_REPORT_WAIT_MINUTES, lambda s: s.report_wait.total_seconds() / 60),
    "report_quota_wait_minutes": (
        DEFAULT_REPORT_QUOTA_WAIT_MINUTES,
        1,
        MAX_REPORT_QUOTA_WAIT_MINUTES,
        lambda s: s.report_quota_wait.total_seconds() / 60,
    ),
}


@pytest.mark.parametrize("key", sorted(DISCOVERY_KEYS))
def test_spec_documents_each_change_feed_setting_as_the_code_reads_it(key):
    default, minimum, maximum, setting = DISCOVERY_KEYS[key]
    spec = SourceFreshchat().spec(logging.getLogger("airbyte")).connectionSpecification["properties"][key]
    assert (spec["default"], spec["minimum"], spec["maximum"]) == (default, minimum, maximum)
    assert setting(parse_settings({"domain": "acme", "api_key": "key"})) == default
    for accepted in (minimum, maximum):
        assert setting(parse_settings({"domain": "acme", "api_key": "key", key: accepted})) == accepted
    for bad in (minimum - 1, maximum + 1, "7", 2.5, True):
        with pytest.raises(AirbyteTracedException, match=f"`{key}` must be a whole number"):
            parse_settings({"domain": "acme", "api_key": "key", key: bad})


def test_conversation_discovery_accepts_its_modes_and_names_itself_otherwise():
    spec = SourceFreshchat().spec(logging.getLogger("airbyte")).connectionSpecification["properties"]["conversation_discovery"]
    assert spec["enum"] == list(DISCOVERY_MODES) and spec["default"] == DEFAULT_DISCOVERY_MODE == "auto"
    for mode in DISCOVERY_MODES:
        assert parse_settings({"domain": "acme", "api_key": "key", "conversation_discovery": mode}).conversation_discovery == mode
    with pytest.raises(AirbyteTracedException, match="`conversation_discovery` must be one of auto, walk, extract"):
        parse_settings({"domain": "acme", "api_key": "key", "conversation_discovery": "feed"})


@pytest.mark.parametrize("domain", ["ftp://localhost", "ws://127.0.0.1:9000", "file://localhost"])
def test_loopback_hosts_still_need_http_or_https(domain):
    with pytest.raises(AirbyteTracedException, match="must use http:// or https://"):
        parse_domain(domain)


def test_an_api_key_of_4096_characters_is_the_longest_accepted():
    assert parse_api_key("k" * 4096) == "k" * 4096
    with pytest.raises(AirbyteTracedException, match="4097 characters"):
        parse_api_key("k" * 4097)


def test_requests_per_minute_is_kept_when_valid_and_refused_otherwise():
    assert parse_settings({"domain": "acme", "api_key": "token", "requests_per_minute": 1}).requests_per_minute == 1
    assert parse_settings({"domain": "acme", "api_key": "token"}).requests_per_minute is None
    for bad in (0, -5, True, "60", 1.5):
        with pytest.raises(AirbyteTracedException, match="`requests_per_minute` must be a whole number"):
            parse_settings({"domain": "acme", "api_key": "token", "requests_per_minute": bad})


@pytest.mark.parametrize("domain", ["http://localhost:99999", "http://[::1", "https://acme.freshchat.com:port"])
def test_a_domain_that_is_not_a_url_is_refused_with_an_example(domain):
    with pytest.raises(AirbyteTracedException, match="is not a valid host or URL"):
        parse_domain(domain)


@pytest.mark.parametrize("domain", ["https://user@acme.freshchat.com", "https://:secret@acme.freshchat.com"])
def test_a_domain_carrying_credentials_is_refused(domain):
    with pytest.raises(AirbyteTracedException, match="must not contain credentials"):
        parse_domain(domain)


def test_a_start_date_without_a_zone_is_utc_whatever_the_machines_timezone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_start_date("2024-01-31T10:00:00") == datetime(2024, 1, 31, 10, tzinfo=timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_config_error_gives_airbyte_its_message_as_the_internal_message_too():
    """Airbyte keeps a failure's internal message with the sync's failure reason: it must not read None."""
    with pytest.raises(AirbyteTracedException) as error:
        parse_settings({"domain": "acme.example.com", "api_key": "key"})
    trace = error.value.as_airbyte_message().trace.error
    assert trace.failure_type == FailureType.config_error and "is not a Freshchat host" in trace.message
    assert trace.internal_message == trace.message
