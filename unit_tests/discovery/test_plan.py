"""The planner: whether conversations and messages walk or follow the change feed this sync, and why."""

from datetime import timedelta

import pytest
from airbyte_cdk.models import SyncMode

from source_freshchat.config import format_timestamp
from source_freshchat.discovery.plan import DiscoveryRecord

from ..conftest import API, CONFIG, conversation, final_state, mock_account_tree, records_of, run_read
from .test_change_feed import CHAT_ROW, CURSOR, NOW, fan_out_state, feed_account, mock_reports, paths, walked


@pytest.mark.parametrize("status", [403, 404])
def test_auto_walks_with_a_warning_where_the_account_has_no_extract_api(requests_mock, status):
    feed_account(requests_mock)
    mock_reports(requests_mock, {event: status for event in ("Conversation-Created", "Chat-Transcript")})
    output = run_read(["conversations", "messages"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    assert not output.errors
    assert ("GET", "/v2/users/u1/conversations") in paths(requests_mock)
    warnings = [m.log.message for m in output.logs if "change feed is unavailable" in m.log.message]
    assert len(warnings) == 1 and "no Extract API" in warnings[0]
    assert final_state(output, "conversations")["discovery"]["feed_since_walk"] is False  # the walk it did is recorded


def test_extract_mode_fails_the_stream_where_the_account_has_no_extract_api(requests_mock):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Conversation-Created": 403})
    output = run_read(
        ["conversations"],
        config={**CONFIG, "conversation_discovery": "extract"},
        sync_mode=SyncMode.incremental,
        state=fan_out_state(walked()),
    )
    assert any("no Extract API" in error.trace.error.message for error in output.errors)
    assert ("GET", "/v2/users/u1/conversations") not in paths(requests_mock)
    assert not records_of(output, "conversations")


@pytest.mark.parametrize(
    "config,state,reason",
    [
        ({"conversation_discovery": "walk"}, fan_out_state(walked()), "`conversation_discovery` is walk"),
        ({}, {"conversations": {"updated_time": CURSOR}}, "records no complete walk yet"),
        ({}, fan_out_state({key: value for key, value in walked().items() if key != "rolling"}), "written before the rolling walk"),
        ({}, fan_out_state(walked(days_ago=30)), None),  # the rolling walk replaces the due full walk
        ({}, fan_out_state(walked(size={"walk_users": 10, "walk_conversations": 20})), "fewer than a change-feed sync would"),
        ({"conversation_discovery": "extract"}, fan_out_state(walked(size={"walk_users": 10, "walk_conversations": 20})), None),
        ({}, fan_out_state(walked(through_hours_ago=24 * 500)), "older than the Extract API's reach"),
        ({}, {}, "first sync of conversations"),
        ({}, fan_out_state({**walked(), "changes_through": None}), "records no complete walk yet"),
    ],
)
def test_why_a_sync_walks(requests_mock, config, state, reason):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    output = run_read(["conversations"], config={**CONFIG, **config}, sync_mode=SyncMode.incremental, state=state)
    walked_users = ("GET", "/v2/users/u1/conversations") in paths(requests_mock)
    assert walked_users == (reason is not None)
    if reason:
        assert any(reason in m.log.message for m in output.logs if "walk every user" in m.log.message)


def test_full_refresh_always_walks(requests_mock):
    feed_account(requests_mock)
    output = run_read(["conversations"], state=fan_out_state(walked()))
    assert sorted(r["conversation_id"] for r in records_of(output, "conversations")) == ["c1", "c2"]
    assert not [r for r in requests_mock.request_history if r.method == "POST"]


@pytest.mark.parametrize("edited_days_ago,emitted", [(3, True), (5, False)])
def test_a_full_walk_after_feed_syncs_rereads_from_where_the_rolling_walk_last_saw_every_user(requests_mock, edited_days_ago, emitted):
    """A property-only edit at t < cursor was invisible to the feed; a full walk must still emit it if no slice has seen it since."""
    mock_account_tree(requests_mock, {"u1": ["c1"]})
    edited = format_timestamp(NOW - timedelta(days=edited_days_ago))
    requests_mock.get(f"{API}/conversations/c1", json=conversation("c1", edited))
    discovery = walked(days_ago=20, feed_since_walk=True)
    state = fan_out_state({**discovery, "rolling": {**discovery["rolling"], "reread_from": format_timestamp(NOW - timedelta(days=4))}})
    output = run_read(["conversations"], config={**CONFIG, "conversation_discovery": "walk"}, sync_mode=SyncMode.incremental, state=state)
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == (["c1"] if emitted else [])
    assert final_state(output, "conversations")["discovery"]["feed_since_walk"] is False


def test_without_feed_syncs_a_full_walk_keeps_the_cursor_as_its_lower_bound(requests_mock):
    """c1 changed after the last walk but before the cursor: with no feed sync since that walk, the cursor already covers it."""
    mock_account_tree(requests_mock, {"u1": ["c1"]})
    details = requests_mock.get(f"{API}/conversations/c1", json=conversation("c1", format_timestamp(NOW - timedelta(days=3))))
    state = fan_out_state(walked(days_ago=8))
    output = run_read(["conversations"], config={**CONFIG, "conversation_discovery": "walk"}, sync_mode=SyncMode.incremental, state=state)
    assert not output.errors and details.call_count == 1  # the walk reached c1
    assert records_of(output, "conversations") == []


@pytest.mark.parametrize("conversations,feed", [(250, True), (249, False)])  # the README's documented threshold
def test_auto_follows_the_feed_from_a_walk_of_exactly_the_threshold(requests_mock, conversations, feed):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    state = fan_out_state(walked(size={"walk_users": 0, "walk_conversations": conversations}))
    run_read(["conversations"], sync_mode=SyncMode.incremental, state=state)
    assert (("GET", "/v2/users/u1/conversations") not in paths(requests_mock)) == feed


@pytest.mark.parametrize(
    "state,reason",
    [
        ({"conversations": {"discovery": walked()}}, "first sync of conversations"),
        (
            {
                "conversations": {
                    "updated_time": CURSOR,
                    "discovery": walked(),
                    "resume": {"after_user_created": "2024-01-01T00:00:00.000Z"},
                }
            },
            "conversations resumes an interrupted walk",
        ),
    ],
)
def test_a_state_without_a_cursor_or_with_a_walk_to_resume_walks(requests_mock, state, reason):
    feed_account(requests_mock)
    output = run_read(["conversations"], sync_mode=SyncMode.incremental, state=state)
    assert any(reason in m.log.message for m in output.logs)
    assert not [r for r in requests_mock.request_history if r.method == "POST"]


def test_full_refresh_names_itself_as_the_reason_to_walk(requests_mock):
    feed_account(requests_mock)
    output = run_read(["conversations"], state=fan_out_state(walked()))
    assert any("conversations is read in full refresh" in m.log.message for m in output.logs)


def test_a_missing_discovery_record_reads_as_no_walk_and_no_feed_yet():
    assert DiscoveryRecord.from_state({}).to_state() == {
        "last_full_walk": None,
        "changes_through": None,
        "feed_since_walk": False,
        "walk_users": 0,
        "walk_conversations": 0,
    }


@pytest.mark.parametrize("value,read", [(5, 5), (0, 0), (-1, 0), (True, 0), ("7", 0), (2.5, 0), (None, 0)])
def test_the_walks_size_in_the_discovery_record_is_read_only_as_a_whole_number_of_at_least_0(value, read):
    record = DiscoveryRecord.from_state({"discovery": {"walk_users": value, "walk_conversations": value}})
    assert (record.walk_users, record.walk_conversations) == (read, read)


def test_two_streams_records_plan_one_feed_from_the_earlier_changes_and_the_dearer_walk(requests_mock):
    """conversations last walked cheaply and saw changes through 3 h ago, messages walked dearly and through 5 h ago: the walk
    either would need is the dearer one (so auto follows the feed), and the feed starts early enough for both."""
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    cheap = walked(size={"walk_users": 0, "walk_conversations": 10})
    dear = walked(through_hours_ago=5, size={"walk_users": 0, "walk_conversations": 400})
    state = {"conversations": {"updated_time": CURSOR, "discovery": cheap}, "messages": {"created_time": CURSOR, "discovery": dear}}
    output = run_read(["conversations", "messages"], sync_mode=SyncMode.incremental, state=state)
    assert not output.errors and ("GET", "/v2/users/u1/conversations") not in paths(requests_mock)
    starts = {request.json()["start"] for request in requests_mock.request_history if request.method == "POST"}
    assert starts == {format_timestamp(NOW - timedelta(hours=5, minutes=60))}  # the default overlap of 60 minutes
    assert any("instead of a walk of about 400 requests" in m.log.message for m in output.logs)
