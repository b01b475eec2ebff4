"""Conversations hand their walk to messages: once per read, never twice."""

from airbyte_cdk.models import SyncMode

from source_freshchat.config import parse_settings
from source_freshchat.streams.conversations import Conversations

from ..conftest import CONFIG, sync_of

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
