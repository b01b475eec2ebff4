"""The checkpointed walk under conversations and messages: how far each checkpoint says the sync got."""

from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import SyncMode

from source_freshchat.config import format_timestamp, parse_settings
from source_freshchat.rate_limit import FreshchatAPIBudget
from source_freshchat.streams.conversations import Conversations
from source_freshchat.streams.parents import ParentWalk

from .conftest import CONFIG, walk_only

USERS = [format_timestamp(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minute)) for minute in range(201)]


def test_a_checkpoint_comes_every_200_users_and_the_finished_walk_clears_it(requests_mock):
    settings = parse_settings(CONFIG)
    walk = ParentWalk(settings, FreshchatAPIBudget(None))
    walk.remember_conversations([(created, []) for created in USERS])  # users without conversations: no request at all
    stream = Conversations(settings, walk, walk_only(settings, walk))
    stream.state = {}
    resume_marks = []
    for stream_slice in stream.stream_slices(sync_mode=SyncMode.incremental):
        assert list(stream.read_records(SyncMode.incremental, stream_slice=stream_slice)) == []
        resume_marks.append(stream.state.get("resume", {}).get("after_user_created"))
    assert resume_marks == [USERS[199], None]
    assert requests_mock.call_count == 0
