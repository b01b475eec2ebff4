"""The checkpointed walk under conversations and messages: how far each checkpoint says the sync got."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from airbyte_cdk.models import AirbyteTraceMessage, SyncMode

from source_freshchat.config import format_timestamp, parse_settings
from source_freshchat.streams.conversations import Conversations

from .conftest import API, CONFIG, envelope, sync_of

USERS = [format_timestamp(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minute)) for minute in range(201)]


def test_a_checkpoint_comes_every_200_users_and_the_finished_walk_clears_it(requests_mock):
    settings = parse_settings(CONFIG)
    sync = sync_of(settings)
    walk = sync.walk
    walk.remember_conversations([(created, []) for created in USERS])  # users without conversations: no request at all
    stream = Conversations(sync)
    stream.state = {}
    resume_marks = []
    for stream_slice in stream.stream_slices(sync_mode=SyncMode.incremental):
        assert list(stream.read_records(SyncMode.incremental, stream_slice=stream_slice)) == []
        resume_marks.append(stream.state.get("resume", {}).get("after_user_created"))
    assert resume_marks == [USERS[199], None]
    assert requests_mock.call_count == 0


def test_a_resumed_conversations_walk_leaves_messages_every_user_not_only_the_resumed_part(requests_mock):
    def listing(request, context):  # users created from the filter's time on, as Freshchat lists them
        since = parse_qs(urlsplit(request.url).query)["created_from"][0]
        return envelope("users", [{"id": f"u{i}", "created_time": created} for i, created in enumerate(USERS) if created >= since])

    requests_mock.get(f"{API}/users", json=listing)
    requests_mock.get(re.compile(rf"{API}/users/u\d+/conversations"), json={"conversations": []})
    settings = parse_settings(CONFIG)
    sync = sync_of(settings)
    walk = sync.walk
    stream = Conversations(sync)
    stream.state = {"updated_time": "2025-01-01T00:00:00.000Z", "resume": {"after_user_created": USERS[100]}}
    for stream_slice in stream.stream_slices(sync_mode=SyncMode.incremental):
        list(stream.read_records(SyncMode.incremental, stream_slice=stream_slice))
    messages_walk = list(walk.conversation_batches(lambda ref: [], "messages"))
    assert [batch.user_created for batch in messages_walk] == USERS


def test_a_walks_estimate_counts_conversations_per_user_not_users(requests_mock):
    requests_mock.get(f"{API}/users", json=envelope("users", [{"id": f"u{i}", "created_time": USERS[i]} for i in range(4)]))
    requests_mock.get(
        re.compile(rf"{API}/users/u\d+/conversations"),
        json=lambda request, _: {"conversations": [{"id": f"{request.path.split('/')[3]}-{n}"} for n in range(2)]},
    )
    requests_mock.get(
        re.compile(rf"{API}/conversations/[^/]+$"),
        json=lambda request, _: {"conversation_id": request.path.rsplit("/", 1)[1], "updated_time": "2025-01-01T00:00:00.000Z"},
    )
    settings = parse_settings(CONFIG)
    stream = Conversations(sync_of(settings))
    output = [
        item
        for s in stream.stream_slices(sync_mode=SyncMode.full_refresh)
        for item in stream.read_records(SyncMode.full_refresh, stream_slice=s)
    ]
    estimates = [item.estimate.row_estimate for item in output if isinstance(item, AirbyteTraceMessage)]
    # 2 conversations a user, 4 users: the estimate is of conversations, refined as the walk goes, never the 4 users
    assert len(output) - len(estimates) == 8 and estimates[0] == 8 and min(estimates) >= 8


def test_a_read_that_may_have_missed_records_moves_neither_the_cursor_nor_the_discovery_record(requests_mock):
    settings = parse_settings(CONFIG)
    sync = sync_of(settings)
    walk = sync.walk
    walk.remember_conversations([(created, []) for created in USERS])
    stream = Conversations(sync)
    before = {
        "updated_time": "2025-01-01T00:00:00.000Z",
        "discovery": {"last_full_walk": "2024-12-01T00:00:00.000Z", "changes_through": "2025-01-01T00:00:00.000Z"},
    }
    stream.state = before
    next(iter(stream.stream_slices(sync_mode=SyncMode.incremental)))  # plans the read: a full walk
    stream.walk_finished(complete=True, advance=False)  # e.g. messages skipped conversations on evidence later contradicted
    after = stream.state
    assert after["updated_time"] == before["updated_time"]
    assert after["discovery"]["last_full_walk"] == before["discovery"]["last_full_walk"]
    assert after["discovery"]["changes_through"] == before["discovery"]["changes_through"]
