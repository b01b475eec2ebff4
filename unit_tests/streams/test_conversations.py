"""Conversations: each fetched once, deletions skipped, incremental on updated_time, and the walk handed to messages once."""

from airbyte_cdk.models import SyncMode

from source_freshchat.config import parse_settings
from source_freshchat.streams.conversations import Conversations

from ..conftest import (
    API,
    CONFIG,
    calls,
    conversation,
    envelope,
    final_state,
    mock_account_tree,
    records_of,
    run_read,
    sync_of,
    user,
)

USERS = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"]


def read_all(stream):
    for stream_slice in stream.stream_slices(sync_mode=SyncMode.full_refresh):
        list(stream.read_records(SyncMode.full_refresh, stream_slice=stream_slice))


def test_reading_conversations_twice_hands_messages_one_walk(requests_mock):
    settings = parse_settings(CONFIG)
    sync = sync_of(settings)
    walk = sync.walk
    walk.remember_conversations([(created, []) for created in USERS])  # users without conversations: no request at all
    stream = Conversations(sync)
    read_all(stream)
    read_all(stream)
    assert [batch.user_created for batch in walk.conversation_batches(lambda ref: [], "messages")] == USERS
    assert requests_mock.call_count == 0


def test_conversations_are_fetched_once_each_even_when_shared_by_users(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "c2"], "u2": ["c2", "c3"]})
    output = run_read(["conversations"])
    assert sorted(r["conversation_id"] for r in records_of(output, "conversations")) == ["c1", "c2", "c3"]
    assert calls(requests_mock, "conversations/c2") == 1


def test_a_conversation_deleted_between_listing_and_fetching_is_skipped_and_logged(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "gone"]}, missing={"gone"})
    output = run_read(["conversations"])
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c1"]
    assert not output.errors
    assert any("conversations/gone" in log.log.message and "deleted" in log.log.message for log in output.logs)


def test_a_user_deleted_between_listing_and_fetching_is_skipped(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1"]})
    requests_mock.get(f"{API}/users", json=envelope("users", [user("u1"), user("ghost")]))
    requests_mock.get(
        f"{API}/users/ghost/conversations", status_code=404, json={"code": 404, "status": "USER_NOT_FOUND", "message": "no user"}
    )
    output = run_read(["conversations"])
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c1"]
    assert not output.errors


def test_conversations_incremental_filters_on_updated_time_and_moves_the_cursor(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "c2"]})
    requests_mock.get(f"{API}/conversations/c2", json=conversation("c2", "2025-06-01T00:00:00.000Z"))
    output = run_read(
        ["conversations"], sync_mode=SyncMode.incremental, state={"conversations": {"updated_time": "2025-03-01T00:00:00.000Z"}}
    )
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    state = final_state(output, "conversations")
    assert state["updated_time"] == "2025-06-01T00:00:00.000Z"
    walk = state["discovery"]  # a complete walk: the next sync may follow the change feed until the next one is due
    assert (walk["walk_users"], walk["walk_conversations"], walk["feed_since_walk"]) == (1, 2, False)
    assert walk["last_full_walk"] == walk["changes_through"]
