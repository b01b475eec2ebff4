"""Outbound messages: `created_on` is epoch seconds or milliseconds, told apart by magnitude."""

import pytest

from source_freshchat.streams.outbound_messages import with_created_time


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
