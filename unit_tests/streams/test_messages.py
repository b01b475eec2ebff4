"""Messages: paging newest first to the cursor, the evidence rule that lets incremental syncs skip conversations, and the
cursor it may hold back."""

from airbyte_cdk.models import SyncMode

from source_freshchat.config import parse_settings
from source_freshchat.streams.messages import EVIDENCE_KEY, Messages

from ..conftest import (
    API,
    CONFIG,
    calls,
    conversation,
    final_state,
    message,
    mock_account_tree,
    query_of,
    records_of,
    run_read,
    sync_of,
    user,
    without_discovery,
)

CURSOR = "2025-03-01T00:00:00.000Z"
OLD = "2025-01-01T00:00:00.000Z"  # a conversation updated before the cursor
NEW = "2025-03-05T00:00:00.000Z"  # one updated after it


def mock_two_conversations(requests_mock, newest_in_new, newest_in_old="2024-12-31T00:00:00.000Z"):
    """u1 holds c_old (updated at OLD) and c_new (updated at NEW); each has one message, created as given."""
    mock_account_tree(
        requests_mock,
        {"u1": ["c_old", "c_new"]},
        {
            "c_old": [{"messages": [{"id": "m_old", "created_time": newest_in_old}]}],
            "c_new": [{"messages": [{"id": "m_new", "created_time": newest_in_new}]}],
        },
    )
    requests_mock.get(f"{API}/conversations/c_old", json=conversation("c_old", OLD))
    requests_mock.get(f"{API}/conversations/c_new", json=conversation("c_new", NEW))


def sync(messages_state, streams=("conversations", "messages"), sync_mode=SyncMode.incremental):
    return run_read(list(streams), sync_mode=sync_mode, state={"messages": messages_state} if messages_state is not None else None)


def warnings_of(output):
    return [log.log.message for log in output.logs if log.log.level.value == "WARN"]


def test_evidence_seen_this_sync_is_kept_for_the_next(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z")
    output = sync({"created_time": CURSOR})
    assert [r["id"] for r in records_of(output, "messages")] == ["m_new"]
    assert without_discovery(final_state(output, "messages")) == {"created_time": "2025-03-04T00:00:00.000Z", EVIDENCE_KEY: True}


def test_with_evidence_conversations_not_updated_since_the_cursor_are_skipped_without_a_request(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z")
    output = sync({"created_time": CURSOR, EVIDENCE_KEY: True})
    assert [r["id"] for r in records_of(output, "messages")] == ["m_new"]
    assert calls(requests_mock, "conversations/c_old/messages") == 0
    assert any("Skipped 1 conversations not updated since the cursor" in log.log.message for log in output.logs)
    assert without_discovery(final_state(output, "messages")) == {"created_time": "2025-03-04T00:00:00.000Z", EVIDENCE_KEY: True}


def test_evidence_contradicted_after_skipping_keeps_the_cursor_so_skipped_messages_are_read_next_time(requests_mock):
    """c_old was skipped on the word of the evidence; c_new then shows a message later than its updated_time."""
    mock_two_conversations(requests_mock, newest_in_new="2025-03-10T00:00:00.000Z")
    output = sync({"created_time": CURSOR, EVIDENCE_KEY: True})
    assert calls(requests_mock, "conversations/c_old/messages") == 0
    assert without_discovery(final_state(output, "messages")) == {"created_time": CURSOR, EVIDENCE_KEY: False}
    assert any("does not move updated_time on new messages" in message for message in warnings_of(output))


def test_evidence_contradicted_with_nothing_skipped_still_moves_the_cursor(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-10T00:00:00.000Z")
    output = sync({"created_time": CURSOR})
    assert without_discovery(final_state(output, "messages")) == {"created_time": "2025-03-10T00:00:00.000Z", EVIDENCE_KEY: False}
    assert any("does not move updated_time on new messages" in message for message in warnings_of(output))


def test_the_newest_message_is_the_one_checked_against_updated_time(requests_mock):
    """Messages come newest first: only the first can show that updated_time did not move with a new message."""
    mock_two_conversations(requests_mock, newest_in_new="2025-03-10T00:00:00.000Z")
    later_page = [
        {"id": "m_late", "created_time": "2025-03-10T00:00:00.000Z"},
        {"id": "m_early", "created_time": "2025-03-02T00:00:00.000Z"},
    ]
    requests_mock.get(f"{API}/conversations/c_new/messages", json={"messages": later_page, "link": {}})
    output = sync({"created_time": CURSOR})
    assert sorted(r["id"] for r in records_of(output, "messages")) == ["m_early", "m_late"]
    assert without_discovery(final_state(output, "messages"))[EVIDENCE_KEY] is False


def test_contradicted_evidence_stays_false_and_nothing_is_skipped_again(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z", newest_in_old="2025-03-02T00:00:00.000Z")
    output = sync({"created_time": CURSOR, EVIDENCE_KEY: False})
    assert sorted(r["id"] for r in records_of(output, "messages")) == ["m_new", "m_old"]
    assert without_discovery(final_state(output, "messages")) == {"created_time": "2025-03-04T00:00:00.000Z", EVIDENCE_KEY: False}


def test_a_message_newer_than_the_sync_start_is_neither_evidence_nor_contradiction(requests_mock):
    """It may have arrived after its conversation's updated_time was read earlier in this sync."""
    mock_two_conversations(requests_mock, newest_in_new="2999-01-01T00:00:00.000Z")
    output = sync({"created_time": CURSOR})
    assert EVIDENCE_KEY not in final_state(output, "messages")
    assert not any("updated_time" in message for message in warnings_of(output))


def test_a_full_refresh_never_skips_even_with_evidence(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z")
    output = sync({"created_time": CURSOR, EVIDENCE_KEY: True}, sync_mode=SyncMode.full_refresh)
    assert sorted(r["id"] for r in records_of(output, "messages")) == ["m_new", "m_old"]


def test_without_the_conversations_stream_nothing_is_skipped_and_nothing_is_learnt(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z", newest_in_old="2025-03-02T00:00:00.000Z")
    output = sync({"created_time": CURSOR, EVIDENCE_KEY: True}, streams=("messages",))
    assert sorted(r["id"] for r in records_of(output, "messages")) == ["m_new", "m_old"]
    assert without_discovery(final_state(output, "messages")) == {"created_time": "2025-03-04T00:00:00.000Z", EVIDENCE_KEY: True}


def test_a_messages_body_without_its_list_is_a_changed_shape(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1"]}, {"c1": [{"conversation": []}]})
    requests_mock.get(f"{API}/users", json={"users": [user("u1")], "links": {}})
    output = sync(None, streams=("messages",), sync_mode=SyncMode.full_refresh)
    assert "has no 'messages' list" in output.errors[0].trace.error.message


def test_before_a_read_the_state_is_the_one_given():
    """Nothing is learnt about the evidence until messages are read: a stream that fails before its first slice keeps its state."""
    stream = Messages(sync_of(parse_settings(CONFIG)))
    stream.state = {"created_time": CURSOR}
    assert stream.state == {"created_time": CURSOR}
    stream.state = {"created_time": CURSOR, EVIDENCE_KEY: "yes"}  # not a boolean: unknown
    assert stream.state == {"created_time": CURSOR}


def test_a_conversation_deleted_before_its_messages_are_read_is_skipped(requests_mock):
    mock_two_conversations(requests_mock, newest_in_new="2025-03-04T00:00:00.000Z")
    requests_mock.get(f"{API}/conversations/c_old/messages", status_code=404, json={"code": 404, "status": "NOT_FOUND"})
    output = sync(None, sync_mode=SyncMode.full_refresh)
    assert [r["id"] for r in records_of(output, "messages")] == ["m_new"]
    assert not output.errors


def test_messages_follow_link_and_carry_their_conversation_id(requests_mock):
    newest = [message("m3", "c1", "2025-03-03T00:00:00.000Z"), {"id": "m2", "created_time": "2025-03-02T00:00:00.000Z"}]
    mock_account_tree(
        requests_mock,
        {"u1": ["c1"]},
        {
            "c1": [
                {
                    "messages": newest,
                    "link": {"href": "/v2/conversations/c1/messages?page=2&items_per_page=50", "rel": "next", "type": "GET"},
                },
                {"messages": [message("m1", "c1", "2025-03-01T00:00:00.000Z")]},
            ]
        },
    )
    output = run_read(["messages"])
    assert [(r["id"], r["conversation_id"]) for r in records_of(output, "messages")] == [("m3", "c1"), ("m2", "c1"), ("m1", "c1")]
    message_requests = [query_of(r) for r in requests_mock.request_history if r.path.endswith("/messages")]
    assert message_requests == [{"page": "1", "items_per_page": "50"}, {"page": "2", "items_per_page": "50"}]


def test_messages_incremental_stops_paging_at_the_cursor(requests_mock):
    mock_account_tree(
        requests_mock,
        {"u1": ["c1"]},
        {
            "c1": [
                {
                    "messages": [
                        message("m3", "c1", "2025-03-03T00:00:00.000Z"),
                        message("m2", "c1", "2025-03-02T00:00:00.000Z"),
                        message("m1", "c1", "2025-03-01T00:00:00.000Z"),
                    ],
                    "link": {"href": "/v2/conversations/c1/messages?page=2&items_per_page=50"},
                },
                {"messages": [message("m0", "c1", "2025-02-01T00:00:00.000Z")]},
            ]
        },
    )
    output = run_read(["messages"], sync_mode=SyncMode.incremental, state={"messages": {"created_time": "2025-03-02T00:00:00.000Z"}})
    assert [r["id"] for r in records_of(output, "messages")] == ["m3", "m2"]  # the one exactly at the cursor is read again
    assert calls(requests_mock, "conversations/c1/messages") == 1
    assert final_state(output, "messages")["created_time"] == "2025-03-03T00:00:00.000Z"
