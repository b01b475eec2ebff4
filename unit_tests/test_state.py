from datetime import datetime, timedelta, timezone

import pytest
from airbyte_cdk.models import SyncMode

from source_freshchat.config import format_timestamp
from source_freshchat.state import SAFETY_MARGIN, Cursor, moment_of

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def cursor_with(state, start_date=None, sync_mode=SyncMode.incremental):
    cursor = Cursor("updated_time", start_date)
    cursor.state = state
    cursor.begin(sync_mode)
    return cursor


def test_state_round_trips_in_freshchat_format():
    cursor = cursor_with({"updated_time": "2025-03-01T10:00:00.123Z"})
    assert cursor.state == {"updated_time": "2025-03-01T10:00:00.123Z"}
    assert cursor.lower_bound == datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)


def test_start_date_is_a_floor_under_an_older_state():
    assert cursor_with({"updated_time": "2023-01-01T00:00:00Z"}, start_date=START).lower_bound == START


def test_full_refresh_ignores_the_state():
    assert cursor_with({"updated_time": "2025-03-01T00:00:00Z"}, sync_mode=SyncMode.full_refresh).lower_bound is None


def test_records_at_the_cursor_are_read_again():
    cursor = cursor_with({"updated_time": "2025-03-01T00:00:00.000Z"})
    assert cursor.accepts({"updated_time": "2025-03-01T00:00:00.000Z"})
    assert not cursor.accepts({"updated_time": "2025-02-28T23:59:59.999Z"})
    assert cursor.accepts({"id": "no cursor value is kept"})


def test_the_cursor_moves_only_when_the_stream_is_finished():
    cursor = cursor_with({"updated_time": "2025-01-01T00:00:00Z"})
    cursor.accepts({"updated_time": "2025-06-01T00:00:00Z"})
    assert cursor.state == {"updated_time": "2025-01-01T00:00:00.000Z"}
    cursor.finish()
    assert cursor.state == {"updated_time": "2025-06-01T00:00:00.000Z"}


def test_the_cursor_never_passes_the_sync_start_minus_the_margin():
    cursor = cursor_with({})
    just_now = datetime.now(timezone.utc) - timedelta(seconds=1)
    cursor.accepts({"updated_time": just_now.isoformat()})
    cursor.finish()
    new_cursor = datetime.fromisoformat(cursor.state["updated_time"].replace("Z", "+00:00"))
    assert new_cursor <= datetime.now(timezone.utc) - SAFETY_MARGIN
    assert new_cursor < just_now


def test_a_failed_read_keeps_the_old_cursor():
    cursor = cursor_with({"updated_time": "2025-01-01T00:00:00Z"})
    cursor.accepts({"updated_time": "2025-06-01T00:00:00Z"})
    cursor.begin(SyncMode.incremental)  # the next attempt, without finish() in between
    assert cursor.lower_bound == datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "older, expected",
    [
        ({"updated_time": 1735689600}, datetime(2025, 1, 1, tzinfo=timezone.utc)),
        ({"updated_time": 1735689600000}, datetime(2025, 1, 1, tzinfo=timezone.utc)),
        (
            {
                "states": [
                    {"partition": {"id": "a"}, "cursor": {"updated_time": "2025-02-01T00:00:00Z"}},
                    {"partition": {"id": "b"}, "cursor": {"updated_time": "2025-01-01T00:00:00Z"}},
                ]
            },
            datetime(2025, 1, 1, tzinfo=timezone.utc),
        ),
        (
            {"c1": {"updated_time": "2025-03-01T00:00:00Z"}, "c2": {"updated_time": "2025-01-15T00:00:00Z"}},
            datetime(2025, 1, 15, tzinfo=timezone.utc),
        ),
    ],
)
def test_older_state_shapes_resume_from_their_earliest_cursor(older, expected):
    assert cursor_with(older).lower_bound == expected


@pytest.mark.parametrize(
    "broken",
    [
        {"updated_time": "yesterday"},
        {"updated_time": None},
        {"updated_time": ["2025"]},
        {"something": "else"},
        {"updated_time": "2999-01-01T00:00:00Z"},
    ],
)
def test_unreadable_or_future_state_means_a_full_re_read_with_a_warning(broken, caplog):
    cursor = cursor_with(broken, start_date=START)
    assert cursor.lower_bound == START
    assert any("read again from the start date" in message for message in caplog.messages)


def test_checkpoints_say_where_to_resume_and_keep_the_first_attempts_start():
    cursor = cursor_with({"updated_time": "2025-01-01T00:00:00Z"})
    cursor.accepts({"updated_time": "2025-05-01T00:00:00Z"})
    cursor.users_done_through("2024-06-01T00:00:00.000Z")
    checkpoint = cursor.state
    assert checkpoint["updated_time"] == "2025-01-01T00:00:00.000Z"
    assert checkpoint["resume"]["after_user_created"] == "2024-06-01T00:00:00.000Z"
    assert checkpoint["resume"]["latest_seen"] == "2025-05-01T00:00:00.000Z"

    resumed = cursor_with(checkpoint)
    assert resumed.resume_after == "2024-06-01T00:00:00.000Z"
    assert resumed.lower_bound == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert resumed.state["resume"]["sync_started"] == checkpoint["resume"]["sync_started"]
    resumed.finish()
    assert resumed.state == {"updated_time": "2025-05-01T00:00:00.000Z"}  # what the first attempt saw counts


def test_unknown_progress_clears_the_resume_point():
    cursor = cursor_with({})
    cursor.users_done_through("2024-06-01T00:00:00.000Z")
    cursor.users_done_through(None)
    assert "resume" not in cursor.state


def test_full_refresh_does_not_resume():
    cursor = cursor_with(
        {"updated_time": "2025-01-01T00:00:00Z", "resume": {"after_user_created": "2024-06-01T00:00:00Z"}}, sync_mode=SyncMode.full_refresh
    )
    assert cursor.resume_after is None


def test_keys_a_stream_keeps_beside_the_cursor_are_not_a_cursor(caplog):
    cursor = Cursor("created_time", None, stream_keys=("updated_time_covers_messages",))
    cursor.state = {"updated_time_covers_messages": True, "resume": {"after_user_created": "2024-01-01T00:00:00Z"}}
    cursor.begin(SyncMode.incremental)
    assert cursor.lower_bound is None and cursor.resume_after == "2024-01-01T00:00:00Z"
    assert not [message for message in caplog.messages if "read again" in message]


@pytest.mark.parametrize(
    "older",
    [
        {"states": [{"cursor": {"updated_time": "2025-02-01T00:00:00Z"}}, {"cursor": {"updated_time": "garbage"}}]},
        {"states": [{"cursor": {"updated_time": "garbage"}}, {"cursor": {"updated_time": "2025-02-01T00:00:00Z"}}]},
        {"c1": {"updated_time": "2025-02-01T00:00:00Z"}, "c2": "garbage"},
        {"states": []},  # no partition read yet
    ],
)
def test_an_older_per_partition_state_with_an_unreadable_partition_is_read_again_from_the_start(older, caplog):
    """The unreadable partition's cursor is unknown, so no readable one is a safe place to start from."""
    assert cursor_with(older, start_date=START).lower_bound == START
    assert any("Unreadable updated_time state" in message for message in caplog.messages)


def test_the_margin_is_the_five_minutes_the_readme_documents():
    cursor = cursor_with({})
    cursor.accepts({"updated_time": (cursor.sync_started + timedelta(minutes=1)).isoformat()})
    cursor.finish()
    assert cursor.state["updated_time"] == format_timestamp(cursor.sync_started - timedelta(minutes=5))


@pytest.mark.parametrize("raw", [True, False, None, {"at": "2025-01-01"}, "soon"])
def test_what_is_not_a_timestamp_has_no_moment(raw):
    assert moment_of(raw) is None


def test_epoch_values_up_to_1e11_are_seconds_and_larger_ones_milliseconds():
    assert moment_of(99_999_999_999).year == 5138
    assert moment_of(100_000_000_001) == datetime(1973, 3, 3, 9, 46, 40, 1000, tzinfo=timezone.utc)
    assert moment_of(150_000_000_000).year == 1974


def test_a_resumed_sync_starts_its_cursor_from_the_first_attempts_start(caplog):
    """Records changed after the first attempt began may sit behind users the resumed sync skips: the next sync re-reads them."""
    first_start = "2025-06-01T00:00:00.000Z"
    resume = {"after_user_created": "2024-06-01T00:00:00.000Z", "latest_seen": None, "sync_started": first_start}
    cursor = cursor_with({"updated_time": "2025-01-01T00:00:00Z", "resume": resume})
    assert any("Resuming the updated_time cursor's interrupted sync after users created up to 2024-06-01" in m for m in caplog.messages)
    assert format_timestamp(cursor.sync_started) == first_start
    cursor.accepts({"updated_time": "2025-07-01T00:00:00Z"})
    cursor.finish()
    assert cursor.state == {"updated_time": "2025-05-31T23:55:00.000Z"}


def test_a_cursor_read_again_checkpoints_again():
    cursor = cursor_with({})
    cursor.finish()
    cursor.begin(SyncMode.incremental)
    cursor.users_done_through("2024-06-01T00:00:00.000Z")
    assert cursor.state["resume"]["after_user_created"] == "2024-06-01T00:00:00.000Z"
