"""The users -> conversations walk: ordering, reuse within a sync, resume marks and progress."""

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from source_freshchat.config import parse_settings
from source_freshchat.discovery import walk as walk_module
from source_freshchat.streams import users

from ..conftest import API, CONFIG, calls, envelope, message, mock_account_tree, records_of, run_read, sync_of

CREATED = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]


def walk_with(num_workers=2):
    return sync_of(parse_settings({**CONFIG, "num_workers": num_workers})).walk


def mock_users(requests_mock, created=CREATED):
    """u0, u1, ... created at `created`; each has one conversation c<i>. A created_from filter is applied as Freshchat does."""

    def listing(request, context):
        since = parse_qs(urlsplit(request.url).query)["created_from"][0]
        return envelope("users", [{"id": f"u{i}", "created_time": c} for i, c in enumerate(created) if c is None or c >= since])

    def conversation_ids(request, context):
        return {"conversations": [{"id": "c" + re.search(r"/users/u(\d+)/", request.path).group(1)}]}

    requests_mock.get(f"{API}/users", json=listing)
    requests_mock.get(re.compile(rf"{API}/users/u\d+/conversations"), json=conversation_ids)


def walked(walk, on_behalf_of="conversations", resume_after=None):
    """(user_created, conversation ids) per batch; fetch returns each conversation's id as its record."""
    batches = walk.conversation_batches(lambda ref: [ref[0]], on_behalf_of, resume_after)
    return [(batch.user_created, batch.records) for batch in batches]


def user_listings(requests_mock):
    return [request for request in requests_mock.request_history if urlsplit(request.url).path == "/v2/users"]


def test_a_single_worker_walks_every_user_in_order(requests_mock):
    mock_users(requests_mock)
    assert walked(walk_with(num_workers=1)) == [(created, [f"c{i}"]) for i, created in enumerate(CREATED)]


def test_a_complete_walk_is_replayed_by_the_next_stream_without_listing_users_again(requests_mock):
    mock_users(requests_mock)
    walk = walk_with()
    first = walked(walk)
    assert walked(walk, "messages") == first
    assert len(user_listings(requests_mock)) == 1


def test_a_resumed_walk_is_never_kept_as_the_complete_user_list(requests_mock):
    """A resumed stream lists only the users from its resume mark on; a later stream of the same sync needs them all."""
    mock_users(requests_mock)
    walk = walk_with()
    assert walked(walk, resume_after=CREATED[1]) == [(CREATED[1], ["c1"]), (CREATED[2], ["c2"])]
    assert walked(walk, "messages") == [(created, [f"c{i}"]) for i, created in enumerate(CREATED)]
    assert [parse_qs(urlsplit(r.url).query)["created_from"][0] for r in user_listings(requests_mock)] == [
        CREATED[1],
        users.USERS_FILTER_FLOOR,
    ]


def test_remembered_conversations_are_replayed_with_their_updated_time(requests_mock):
    mock_users(requests_mock)
    walk = walk_with()
    walk.remember_conversations([(CREATED[0], [("c0", "2025-01-01T00:00:00.000Z")]), (CREATED[1], [])])
    fetched = []
    batches = list(walk.conversation_batches(lambda ref: fetched.append(ref) or [ref[0]], "messages"))
    assert [(batch.user_created, batch.records) for batch in batches] == [(CREATED[0], ["c0"]), (CREATED[1], [])]
    assert fetched == [("c0", "2025-01-01T00:00:00.000Z")]
    assert requests_mock.call_count == 0


def test_a_listing_abandoned_halfway_is_not_kept(requests_mock):
    mock_users(requests_mock)
    walk = walk_with()
    next(iter(walk.remember_users(iter([{"id": "u0", "created_time": CREATED[0]}, {"id": "u1"}]))))
    assert walked(walk) == [(created, [f"c{i}"]) for i, created in enumerate(CREATED)]
    assert len(user_listings(requests_mock)) == 1


def test_the_walk_logs_its_progress(requests_mock, monkeypatch, caplog):
    """Real syncs log every 1,000 users; the line itself is checked on three."""
    monkeypatch.setattr(walk_module, "PROGRESS_EVERY", 2)
    mock_users(requests_mock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        walked(walk_with(num_workers=1))  # one at a time, so the count of conversations so far is exact
    progress = [message for message in caplog.messages if message.startswith("Walked")]
    assert progress == ["Walked the conversations of 2 users; 2 conversations so far"]


def test_users_out_of_created_time_order_are_logged_once(requests_mock, caplog):
    mock_users(requests_mock, created=[CREATED[1], CREATED[0], CREATED[2], None])
    marks = [mark for mark, _ in walked(walk_with())]
    assert marks == [CREATED[1], None, None, None]
    assert sum("out of created_time order" in message for message in caplog.messages) == 1


def test_a_user_conversations_body_without_its_list_is_a_changed_shape(requests_mock):
    mock_users(requests_mock)
    requests_mock.get(f"{API}/users/u0/conversations", json={"conversations": {"id": "c0"}})
    with pytest.raises(Exception, match="has no 'conversations' list"):
        walked(walk_with())


def test_a_walk_of_an_account_without_users_costs_nothing_in_the_discovery_record(requests_mock):
    mock_users(requests_mock, created=[])
    walk = walk_with()
    assert walked(walk) == []
    assert walk.walk_size == (0, 0)  # users walked, conversations found: what `auto` weighs against the change feed


def test_replayed_conversations_estimate_the_next_stream_from_the_users_they_replay(requests_mock):
    walk = walk_with()
    walk.remember_conversations([(CREATED[0], [("c0", None)]), (CREATED[1], []), (CREATED[2], [("c2", None)])])
    assert walked(walk, "messages") == [(CREATED[0], ["c0"]), (CREATED[1], []), (CREATED[2], ["c2"])]
    assert walk.sync.progress.of("messages").listed_total == 3


def test_a_replayed_user_list_estimates_the_next_stream_from_its_users(requests_mock):
    mock_users(requests_mock)
    walk = walk_with()
    walked(walk)
    walked(walk, "messages")
    assert walk.sync.progress.of("messages").listed_total == len(CREATED)


def test_one_sync_walks_users_and_conversations_once_for_all_three_streams(requests_mock):
    mock_account_tree(
        requests_mock,
        {"u1": ["c1", "c2"], "u2": ["c2"]},
        {
            "c1": [{"messages": [message("m1", "c1", "2025-03-01T00:00:00.000Z")]}],
            "c2": [{"messages": [message("m2", "c2", "2025-03-01T00:00:00.000Z")]}],
        },
    )
    # The catalog lists children first; the source still reads parents first so they are reused.
    output = run_read(["messages", "conversations", "users"])
    assert (
        len(records_of(output, "users")) == 2 and len(records_of(output, "conversations")) == 2 and len(records_of(output, "messages")) == 2
    )
    assert calls(requests_mock, "users") == 1
    assert calls(requests_mock, "users/u1/conversations") == 1
    assert calls(requests_mock, "conversations/c1") == 1
    assert calls(requests_mock, "conversations/c2") == 1


def test_progress_marks_stop_once_users_come_out_of_created_time_order(requests_mock):
    created = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-01-15T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]
    requests_mock.get(f"{API}/users", json=envelope("users", [{"id": f"u{i}", "created_time": c} for i, c in enumerate(created)]))
    requests_mock.get(re.compile(rf"{API}/users/u\d/conversations"), json={"conversations": []})
    settings = parse_settings(CONFIG)
    walk = sync_of(settings).walk
    marks = [batch.user_created for batch in walk.conversation_batches(lambda ref: [], "conversations")]
    assert marks == created[:2] + [None, None]
