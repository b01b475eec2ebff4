"""The change feed: which conversations report events touched, what it fetches and tells Airbyte; helpers the planner's tests share."""

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional, Sequence, Union
from urllib.parse import urlsplit

from airbyte_cdk.models import SyncMode

from source_freshchat.config import format_timestamp
from source_freshchat.discovery.plan import AUTO_MIN_WALK_REQUESTS

from ..conftest import API, CONFIG, conversation, final_state, message, mock_account_tree, records_of, run_read, user

STORAGE = "https://exports.storage.example"

NOW = datetime.now(timezone.utc)

RECENT = format_timestamp(NOW - timedelta(hours=2))

CURSOR = format_timestamp(NOW - timedelta(hours=3))

BIG_WALK = {"walk_users": AUTO_MIN_WALK_REQUESTS, "walk_conversations": AUTO_MIN_WALK_REQUESTS}

USERS_CREATED = user("u")["created_time"]


def walked(days_ago: float = 1, through_hours_ago: float = 3, feed_since_walk: bool = False, size: Optional[Mapping] = None) -> Mapping:
    """A discovery record after a full walk; its rolling walk stands after every user (all created at USERS_CREATED), so a
    feed sync's slice is empty and the feed is all it reads."""
    last_walk = format_timestamp(NOW - timedelta(days=days_ago))
    return {
        "last_full_walk": last_walk,
        "changes_through": format_timestamp(NOW - timedelta(hours=through_hours_ago)),
        "feed_since_walk": feed_since_walk,
        **(size or BIG_WALK),
        "rolling": {"reread_from": last_walk, "walked_through": USERS_CREATED},
    }


def fan_out_state(discovery: Mapping, messages_cursor: str = CURSOR) -> Mapping:
    return {
        "conversations": {"updated_time": CURSOR, "discovery": discovery},
        "messages": {"created_time": messages_cursor, "discovery": discovery},
    }


Rows = Sequence[Mapping[str, str]]


def mock_reports(requests_mock, reports: Mapping[str, Union[Rows, int]]) -> None:
    """Every event's job completes at once; an int answers job creation with that status instead."""

    def create(request, context):
        event = request.json()["event"]
        outcome = reports.get(event, [])
        if isinstance(outcome, int):
            context.status_code = outcome
            return {"code": outcome, "status": "REFUSED", "message": f"{event} is not available"}
        return {"id": f"job-{event}"}

    requests_mock.post(f"{API}/reports/raw", json=create)
    for event, rows in reports.items():
        if isinstance(rows, int):
            continue
        requests_mock.get(
            f"{API}/reports/raw/job-{event}",
            json={
                "id": f"job-{event}",
                "status": "COMPLETED",
                "links": [{"status": "COMPLETED", "link": {"href": f"{STORAGE}/{event}.csv?sig=1"}}],
            },
        )
        text = io.StringIO()
        columns = sorted({column for row in rows for column in row}) or ["conversation_id", "created_at"]
        writer = csv.DictWriter(text, columns)
        writer.writeheader()
        writer.writerows(rows)
        requests_mock.get(f"{STORAGE}/{event}.csv", text=text.getvalue())
    for event in (
        "Conversation-Created",
        "Conversation-Agent-Assigned",
        "Conversation-Group-Assigned",
        "Conversation-Resolved",
        "Chat-Transcript",
        "Message-Sent",
    ):
        if event not in reports:
            requests_mock.get(f"{API}/reports/raw/job-{event}", json={"id": "x", "status": "COMPLETED", "links": []})


def paths(requests_mock):
    return [(request.method, urlsplit(request.url).path) for request in requests_mock.request_history]


def feed_account(requests_mock):
    """u1 has c1 (unchanged) and c2 (a new message); nothing else changed."""
    mock_account_tree(
        requests_mock,
        {"u1": ["c1", "c2"]},
        {
            "c2": [
                {
                    "messages": [
                        message("m9", "c2", format_timestamp(NOW - timedelta(minutes=30))),
                        message("m1", "c2", "2025-01-01T00:00:00.000Z"),
                    ],
                    "link": {"href": "/v2/conversations/c2/messages?page=2&items_per_page=50"},
                }
            ]
        },
    )
    requests_mock.get(f"{API}/conversations/c2", json=conversation("c2", format_timestamp(NOW - timedelta(minutes=30))))
    requests_mock.get(f"{API}/conversations/c1/messages", json={"messages": []})


CHAT_ROW = {"conversation_id": "c2", "message_id": "m9", "created_time": format_timestamp(NOW - timedelta(minutes=30))}


def test_the_feed_fetches_only_the_changed_conversations_and_lists_no_user(requests_mock):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    output = run_read(["conversations", "messages"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    assert not output.errors
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    assert [r["id"] for r in records_of(output, "messages")] == ["m9"]
    requested = paths(requests_mock)
    assert requested.count(("GET", "/v2/users")) == 1 and ("GET", "/v2/users/u1/conversations") not in requested  # an empty slice
    assert ("GET", "/v2/conversations/c1") not in requested
    assert requested.count(("GET", "/v2/conversations/c2/messages")) == 1  # newest first, stopped at the window start
    assert requested.count(("POST", "/v2/reports/raw")) == 5  # one job per event, shared by both streams
    state = final_state(output, "conversations")["discovery"]
    assert state["feed_since_walk"] is True and state["last_full_walk"] == walked()["last_full_walk"]
    assert state["changes_through"] > walked()["changes_through"]
    assert any("follow the change feed" in message for message in (m.log.message for m in output.logs))


def test_the_feed_window_overlaps_the_last_one_by_the_configured_margin(requests_mock):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    run_read(
        ["conversations"], config={**CONFIG, "feed_overlap_minutes": 90}, sync_mode=SyncMode.incremental, state=fan_out_state(walked())
    )
    body = next(r.json() for r in requests_mock.request_history if r.method == "POST")
    expected = NOW - timedelta(hours=3, minutes=90)
    assert abs(datetime.fromisoformat(body["start"].replace("Z", "+00:00")) - expected) < timedelta(seconds=1)


def test_a_refused_chat_transcript_falls_back_to_message_sent_with_one_warning(requests_mock):
    feed_account(requests_mock)
    mock_reports(
        requests_mock, {"Chat-Transcript": 400, "Message-Sent": [{"conversation_id": "c2", "message_id": "m9", "created_at": RECENT}]}
    )
    output = run_read(["conversations", "messages"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    warnings = [m.log.message for m in output.logs if "only the user wrote wait for the rolling walk" in m.log.message]
    assert len(warnings) == 1


def test_a_report_without_conversation_ids_fails_loudly_in_extract_mode(requests_mock):
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Conversation-Created": [{"interaction_id": "123-456", "created_at": RECENT}]})
    output = run_read(
        ["conversations"],
        config={**CONFIG, "conversation_discovery": "extract"},
        sync_mode=SyncMode.incremental,
        state=fan_out_state(walked()),
    )
    assert any("carry no conversation_id" in error.trace.error.message for error in output.errors)


def test_the_feed_counts_each_conversation_once_from_its_earliest_event_and_says_how_many_changed(requests_mock):
    feed_account(requests_mock)
    requests_mock.get(f"{API}/conversations/c1", json=conversation("c1", RECENT))
    earlier, later = format_timestamp(NOW - timedelta(minutes=50)), format_timestamp(NOW - timedelta(minutes=40))
    mock_reports(
        requests_mock,
        {
            "Conversation-Created": [{"conversation_id": "c1", "created_at": later}],
            "Conversation-Resolved": [{"conversation_id": "c2", "created_at": earlier}, {"conversation_id": "c1", "created_at": later}],
            "Chat-Transcript": [{**CHAT_ROW, "created_time": "not a time"}, {"conversation_id": "c1", "created_time": later}],
        },
    )
    output = run_read(["conversations"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2", "c1"]  # c2's event came first
    assert [p for p in paths(requests_mock) if p[1].startswith("/v2/conversations/c")] == [
        ("GET", "/v2/conversations/c2"),
        ("GET", "/v2/conversations/c1"),
    ]
    assert any("Change feed: 2 conversations changed between" in m.log.message for m in output.logs)


def test_rows_before_the_window_and_rows_without_a_conversation_id_are_left_out_with_a_warning(requests_mock):
    feed_account(requests_mock)
    too_early = format_timestamp(NOW - timedelta(days=2))
    mock_reports(
        requests_mock,
        {
            "Conversation-Created": [{"conversation_id": "c1", "created_at": too_early}, {"conversation_id": "", "created_at": RECENT}],
            "Chat-Transcript": [CHAT_ROW],
        },
    )
    output = run_read(["conversations"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    assert ("GET", "/v2/conversations/c1") not in paths(requests_mock)
    assert any("1 of 2 Conversation-Created rows had no conversation_id" in m.log.message for m in output.logs)


def test_a_feed_sync_tells_airbyte_how_many_conversations_it_will_read(requests_mock):
    feed_account(requests_mock)
    requests_mock.get(f"{API}/conversations/c1", json=conversation("c1", RECENT))
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW, {**CHAT_ROW, "conversation_id": "c1"}]})
    output = run_read(["conversations"], sync_mode=SyncMode.incremental, state=fan_out_state(walked()))
    estimates = [m.trace.estimate for m in output.trace_messages if m.trace.estimate and m.trace.estimate.name == "conversations"]
    assert [estimate.row_estimate for estimate in estimates] == [2]  # one record per changed conversation, two changed


def test_a_window_learned_by_an_earlier_sync_cuts_this_feeds_jobs_and_stays_in_the_state(requests_mock):
    """A one-hour window for Chat-Transcript, from the state: its jobs ask for an hour at most; the other events, none learned,
    ask for the whole window and add nothing to the state's windows."""
    feed_account(requests_mock)
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    output = run_read(
        ["conversations"], sync_mode=SyncMode.incremental, state=fan_out_state({**walked(), "report_windows": {"Chat-Transcript": 1}})
    )
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    bodies = [request.json() for request in requests_mock.request_history if request.method == "POST"]
    lengths = {}
    for body in bodies:
        length = datetime.fromisoformat(body["end"].replace("Z", "+00:00")) - datetime.fromisoformat(body["start"].replace("Z", "+00:00"))
        lengths.setdefault(body["event"], []).append(length)
    assert len(lengths["Chat-Transcript"]) > 3 and max(lengths["Chat-Transcript"]) <= timedelta(hours=1)
    assert all(len(pieces) == 1 and pieces[0] > timedelta(hours=3) for event, pieces in lengths.items() if event != "Chat-Transcript")
    assert final_state(output, "conversations")["discovery"]["report_windows"] == {"Chat-Transcript": 1}
