"""The rolling walk under the change feed: slice sizes, where each slice starts and ends, what it emits, and its state."""

import re
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from airbyte_cdk.models import SyncMode

from source_freshchat.config import format_timestamp
from source_freshchat.discovery.plan import DiscoveryRecord
from source_freshchat.discovery.rolling import ROLLING_MIN_USERS, RollingPosition, slice_size

from ..conftest import API, CONFIG, final_state, records_of, run_read
from .test_change_feed import CHAT_ROW, mock_reports

NOW = datetime.now(timezone.utc)
WEEK = timedelta(days=7)
LAST_WALK = NOW - timedelta(days=2)
OLD = format_timestamp(NOW - timedelta(days=3))  # updated before the last walk
EDITED = format_timestamp(NOW - timedelta(days=1))  # a property-only edit after the last walk, before the feed's window


def created(index: int) -> str:
    return format_timestamp(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index))


def mock_users(requests_mock, count: int, created_at=created, edited=()):
    """u0..u<count-1>, created in that order; each has conversation c<i>, updated at EDITED if i is in `edited`, else OLD.

    The users listing applies created_from/created_to and pages by 50, as Freshchat does.
    """
    users = [{"id": f"u{i}", "created_time": created_at(i)} for i in range(count)]

    def listing(request, context):
        query = {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}
        matching = [u for u in users if query["created_from"] <= u["created_time"] <= query.get("created_to", "9999")]
        page = int(query.get("page", 1))
        more = f"/v2/users?{urlsplit(request.url).query.replace(f'page={page}', f'page={page + 1}')}" if page * 50 < len(matching) else None
        links = {"next_page": {"href": more}} if more else {}
        return {"users": matching[(page - 1) * 50 : page * 50], "pagination": {"current_page": page}, "links": links}

    requests_mock.get(f"{API}/users", json=listing)
    requests_mock.get(
        re.compile(rf"{API}/users/u\d+/conversations"),
        json=lambda request, _: {"conversations": [{"id": "c" + request.path.split("/")[3][1:]}]},
    )
    requests_mock.get(
        re.compile(rf"{API}/conversations/c\d+$"),
        json=lambda request, _: {
            "conversation_id": request.path.rsplit("/", 1)[1],
            "updated_time": EDITED if int(request.path.rsplit("/c", 1)[1]) in edited else OLD,
        },
    )
    requests_mock.get(re.compile(rf"{API}/conversations/c\d+/messages"), json={"messages": []})
    mock_reports(requests_mock, {"Chat-Transcript": [CHAT_ROW]})
    requests_mock.get(f"{API}/conversations/c2", json={"conversation_id": "c2", "updated_time": CHAT_ROW["created_time"]})


def hours(count: float) -> timedelta:
    """A little less than `count` hours: the sync runs a moment after NOW, and a slice's size is rounded up."""
    return timedelta(hours=count) - timedelta(minutes=1)


def rolling_state(users: int, since_last_sync: timedelta = hours(6), **rolling) -> Mapping:
    discovery = {
        "last_full_walk": format_timestamp(LAST_WALK),
        "changes_through": format_timestamp(NOW - since_last_sync),
        "feed_since_walk": True,
        "walk_users": users,
        "walk_conversations": users,
        "rolling": {"reread_from": format_timestamp(LAST_WALK), **rolling},
    }
    cursor = format_timestamp(NOW - since_last_sync)
    return {
        "conversations": {"updated_time": cursor, "discovery": discovery},
        "messages": {"created_time": cursor, "discovery": discovery},
    }


def sync(state, streams=("conversations",), days: int = 1, discovery: str = "extract"):
    """An incremental sync; `extract` follows the feed whatever the account's size (`auto` would walk the smallest in full)."""
    config = {**CONFIG, "full_walk_interval_days": days, "conversation_discovery": discovery}
    return run_read(list(streams), config=config, sync_mode=SyncMode.incremental, state=state)


def listed_users(requests_mock):
    """The indices of the users whose conversations were listed, in user order (the walk runs them in parallel)."""
    listings = [re.fullmatch(r"/v2/users/u(\d+)/conversations", request.path) for request in requests_mock.request_history]
    return sorted(int(listing.group(1)) for listing in listings if listing)


def user_filters(requests_mock):
    return [
        {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items() if key.startswith("created")}
        for request in requests_mock.request_history
        if request.path == "/v2/users" and "page=1" in request.url
    ]


def rolling_written(output, stream="conversations") -> Mapping:
    """The rolling position as the final state writes it, before from_state would read a bad count as 0."""
    return final_state(output, stream)["discovery"]["rolling"]


def rolling_of(output, stream="conversations") -> Optional[RollingPosition]:
    return DiscoveryRecord.from_state(final_state(output, stream)).rolling


def fresh_cycle(cycle: int) -> Mapping:
    """A position at the start of a cycle, before its first slice: nothing walked, nothing under way."""
    return {
        "cycle": cycle,
        "cycle_started": None,
        "walked_through": None,
        "users_done": 0,
        "conversations_done": 0,
        "slice_through": None,
        "slice_users": 0,
        "slice_ends_cycle": False,
    }


def position(cycle_started: Optional[datetime] = None, users_done: int = 0) -> RollingPosition:
    return RollingPosition(reread_from=LAST_WALK, cycle_started=cycle_started, users_done=users_done)


# -- sizing ---------------------------------------------------------------------------------
def test_a_slice_is_the_share_of_the_users_for_the_time_since_the_last_sync():
    assert slice_size(position(), 168_000, timedelta(hours=1), WEEK, NOW) == 1_000
    assert slice_size(position(), 168_000, timedelta(hours=2, minutes=1), WEEK, NOW) == 2_017  # rounded up, never short


def test_a_slice_has_a_floor_so_frequent_syncs_of_a_small_account_still_move():
    assert slice_size(position(), 1_000, timedelta(minutes=5), WEEK, NOW) == ROLLING_MIN_USERS == 50
    assert slice_size(position(), 1_000, timedelta(minutes=-5), WEEK, NOW) == ROLLING_MIN_USERS  # a clock that went back


def test_a_cycle_behind_schedule_catches_up_at_up_to_twice_the_share():
    # Half the interval has passed, a tenth of the users are done: far behind, so twice the hour's share.
    assert slice_size(position(NOW - WEEK / 2, users_done=16_800), 168_000, timedelta(hours=1), WEEK, NOW) == 2_000
    # Slightly behind: the deficit, between the share and twice it.
    assert slice_size(position(NOW - timedelta(hours=10), users_done=8_500), 168_000, timedelta(hours=1), WEEK, NOW) == 1_500
    # Ahead of schedule: the share.
    assert slice_size(position(NOW - timedelta(hours=10), users_done=12_000), 168_000, timedelta(hours=1), WEEK, NOW) == 1_000


# -- what a slice reads -----------------------------------------------------------------------
def test_a_feed_sync_walks_the_next_slice_and_emits_what_changed_since_its_users_were_last_walked(requests_mock):
    mock_users(requests_mock, 400, edited={130, 190, 260})
    # 400 users, 6 hours since the last sync of a 1-day interval: a slice of 100, after the 120 users already walked.
    output = sync(rolling_state(400, walked_through=created(119), users_done=120, cycle_started=format_timestamp(NOW - timedelta(hours=7))))
    assert not output.errors
    assert listed_users(requests_mock) == list(range(120, 220))
    assert user_filters(requests_mock) == [{"created_from": created(119)}]
    emitted = {record["conversation_id"] for record in records_of(output, "conversations")}
    assert emitted == {"c2", "c130", "c190"}  # the feed's, and the property-only edits in the slice; c260 waits for its slice
    assert rolling_written(output) == {
        **rolling_state(400)["conversations"]["discovery"]["rolling"],
        "cycle": 1,
        "cycle_started": format_timestamp(NOW - timedelta(hours=7)),
        "walked_through": created(219),
        "users_done": 220,
        "conversations_done": 100,  # the slice's; the 120 users before it were counted as none in this state
        "slice_through": None,
        "slice_users": 0,
        "slice_ends_cycle": False,
    }
    assert any("rolling walk: users 121–220 of ~400 (cycle 1, 55% done, complete by" in m.log.message for m in output.logs)


def test_users_created_at_the_slice_boundarys_moment_all_go_into_that_slice(requests_mock):
    mock_users(requests_mock, 120, created_at=lambda i: created(min(i, 45)))  # u45..u119 share one created_time
    output = sync(rolling_state(120, since_last_sync=timedelta(minutes=1)))  # a floor-sized slice of 50
    assert len(listed_users(requests_mock)) == 120 and rolling_of(output).cycle == 2  # the 50th user's moment lasts to the end
    requests_mock.reset_mock()
    mock_users(requests_mock, 120, created_at=lambda i: created(min(i, 30) if i < 60 else i))
    output = sync(rolling_state(120, since_last_sync=timedelta(minutes=1)))
    assert len(listed_users(requests_mock)) == 60  # u30..u59 share the 50th user's moment
    requests_mock.reset_mock()
    output = sync(rolling_state(120, since_last_sync=timedelta(minutes=1), **_position_after(output)))
    assert listed_users(requests_mock) == list(range(60, 110))  # none of those tied again


def _position_after(output) -> Mapping:
    state = rolling_written(output)
    return {key: state[key] for key in ("walked_through", "users_done", "cycle_started", "cycle")}


def test_the_slice_that_reaches_the_last_user_ends_the_cycle_and_the_next_starts_from_the_first(requests_mock):
    mock_users(requests_mock, 130, edited={5})
    started = format_timestamp(NOW - timedelta(hours=30))
    output = sync(rolling_state(130, walked_through=created(99), users_done=100, conversations_done=100, cycle_started=started, cycle=3))
    assert listed_users(requests_mock) == list(range(100, 130))
    assert rolling_written(output) == {**fresh_cycle(4), "reread_from": started}
    record = DiscoveryRecord.from_state(final_state(output, "conversations"))
    assert (record.walk_users, record.walk_conversations) == (130, 100 + 30)  # the account's size, as the cycle found it
    requests_mock.reset_mock()
    next_sync = sync(rolling_state(130, **rolling_written(output)))
    assert listed_users(requests_mock)[0] == 0
    # The new cycle re-reads from the start of the last one: c5 was edited (a day ago) after it began, so it is emitted.
    assert "c5" in {record["conversation_id"] for record in records_of(next_sync, "conversations")}


def test_messages_replays_the_slice_conversations_walked_instead_of_listing_users_again(requests_mock):
    mock_users(requests_mock, 400)
    state = rolling_state(400)
    # After a full walk each stream's record carries its own start, seconds apart: they still stand at the same place.
    messages = {**state["messages"]["discovery"], "changes_through": format_timestamp(NOW - hours(6) + timedelta(seconds=20))}
    messages["rolling"] = {**messages["rolling"], "reread_from": format_timestamp(LAST_WALK + timedelta(seconds=20))}
    output = sync({**state, "messages": {**state["messages"], "discovery": messages}}, streams=("conversations", "messages"))
    assert not output.errors
    assert len(user_filters(requests_mock)) == 1 and len(listed_users(requests_mock)) == 100
    conversations_after, messages_after = rolling_of(output, "conversations"), rolling_of(output, "messages")
    assert messages_after.walked_through == conversations_after.walked_through == created(99)
    assert format_timestamp(messages_after.reread_from) == messages["rolling"]["reread_from"]  # each keeps its own
    assert len([m for m in output.logs if m.log.message.startswith("rolling walk: users")]) == 1


def test_a_slice_skips_the_conversations_the_feed_fetched_this_sync(requests_mock):
    mock_users(requests_mock, 60)
    sync(rolling_state(60))
    details = [request.path for request in requests_mock.request_history if request.path == "/v2/conversations/c2"]
    assert details == ["/v2/conversations/c2"]


# -- interruption and state --------------------------------------------------------------------
def test_a_checkpoint_during_a_slice_keeps_the_slice_so_a_restart_resumes_it(requests_mock):
    mock_users(requests_mock, 400, edited={150, 250})
    state = rolling_state(
        400,
        walked_through=created(99),
        users_done=100,
        slice_through=created(299),
        slice_users=200,
        cycle_started=format_timestamp(LAST_WALK),
    )
    state["conversations"]["resume"] = {"after_user_created": created(199), "sync_started": format_timestamp(NOW - timedelta(minutes=30))}
    output = sync(state)
    assert not output.errors
    assert user_filters(requests_mock) == [{"created_from": created(199), "created_to": created(299)}]
    assert listed_users(requests_mock) == list(range(199, 300))  # the checkpoint's user again
    assert {record["conversation_id"] for record in records_of(output, "conversations")} == {"c2", "c250"}
    after = rolling_of(output)
    assert (after.walked_through, after.users_done, after.slice_through) == (created(299), 300, None)
    assert any("slice resumed" in m.log.message for m in output.logs)


def test_a_slice_under_way_without_a_checkpoint_is_walked_again_from_its_start(requests_mock):
    mock_users(requests_mock, 400)
    state = rolling_state(400, walked_through=created(99), users_done=100, slice_through=created(149), slice_users=50)
    sync(state)
    assert user_filters(requests_mock) == [{"created_from": created(99), "created_to": created(149)}]
    assert listed_users(requests_mock) == list(range(100, 150))


def test_the_checkpoints_of_a_slice_say_it_is_under_way(requests_mock):
    mock_users(requests_mock, 400)
    output = sync(rolling_state(400, since_last_sync=hours(18)))  # 300 users: a checkpoint after 200 of them
    during = [
        m.state.stream.stream_state.__dict__
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == "conversations" and "resume" in m.state.stream.stream_state.__dict__
    ]
    assert during and during[0]["discovery"]["rolling"]["slice_through"] == created(299)
    assert during[0]["discovery"]["rolling"]["slice_users"] == 300
    assert rolling_of(output).slice_through is None


def test_a_full_walk_never_resumes_from_a_slices_checkpoint(requests_mock):
    mock_users(requests_mock, 60)
    state = rolling_state(60, walked_through=created(9), slice_through=created(59), slice_users=50)
    state["conversations"]["resume"] = {"after_user_created": created(40)}
    output = sync(state, discovery="walk")
    assert listed_users(requests_mock) == list(range(60))
    walk_started = format_timestamp(DiscoveryRecord.from_state(final_state(output, "conversations")).last_full_walk)
    assert rolling_written(output) == {**fresh_cycle(1), "reread_from": walk_started}


def test_a_changed_interval_resizes_the_next_slice(requests_mock):
    mock_users(requests_mock, 700)
    sync(rolling_state(700, since_last_sync=hours(24)), days=7)
    assert len(listed_users(requests_mock)) == 100
    requests_mock.reset_mock()
    sync(rolling_state(700, since_last_sync=hours(24)), days=2)
    assert len(listed_users(requests_mock)) == 350


@pytest.mark.parametrize(
    "raw",
    [None, "x", {}, {"reread_from": "not a time"}, {"reread_from": format_timestamp(NOW + timedelta(days=1))}],
)
def test_a_rolling_position_that_cannot_be_read_means_a_full_walk(raw):
    assert DiscoveryRecord.from_state({"discovery": {"rolling": raw}}).rolling is None


def test_the_rolling_position_round_trips_and_drops_what_it_cannot_use():
    raw = {
        "reread_from": "2025-01-01T00:00:00.000Z",
        "cycle": 0,
        "cycle_started": "2025-01-02T00:00:00.000Z",
        "walked_through": "garbage",
        "users_done": -3,
        "slice_through": "2024-05-01T00:00:00.000Z",
        "slice_users": 7,
        "slice_ends_cycle": "yes",
    }
    read = RollingPosition.from_state(raw, NOW)
    assert read.to_state() == {
        **raw,
        "cycle": 1,
        "walked_through": None,
        "users_done": 0,
        "conversations_done": 0,
        "slice_ends_cycle": False,
    }
    assert RollingPosition.from_state(read.to_state(), NOW) == read


def test_users_listed_out_of_created_time_order_make_the_slice_take_the_rest_of_the_cycle(requests_mock):
    mock_users(requests_mock, 120, created_at=lambda i: created(i if i != 10 else 500))  # u10 listed where it does not belong
    output = sync(rolling_state(120, since_last_sync=timedelta(minutes=1)))
    assert listed_users(requests_mock) == list(range(120))  # no created_time to bound the slice by: everyone, nothing skipped
    assert rolling_of(output).cycle == 2
    assert any("out of created_time order" in m.log.message for m in output.logs)


def test_a_slice_reads_back_five_minutes_before_its_users_were_last_walked(requests_mock):
    """Freshchat may show a change a little after its timestamp: the same safety margin as the cursor's."""
    mock_users(requests_mock, 60)
    for index, minutes in ((5, 4), (6, 6)):
        updated = format_timestamp(LAST_WALK - timedelta(minutes=minutes))
        requests_mock.get(f"{API}/conversations/c{index}", json={"conversation_id": f"c{index}", "updated_time": updated})
    output = sync(rolling_state(60))
    assert {record["conversation_id"] for record in records_of(output, "conversations")} == {"c2", "c5"}


def test_a_sync_with_no_users_left_after_the_position_completes_the_cycle(requests_mock):
    mock_users(requests_mock, 60)
    started = format_timestamp(NOW - timedelta(hours=30))
    output = sync(rolling_state(60, walked_through=created(59), users_done=60, cycle=2, cycle_started=started))
    assert listed_users(requests_mock) == []
    assert rolling_written(output) == {**fresh_cycle(3), "reread_from": started}
    lines = [m.log.message for m in output.logs if m.log.message.startswith("rolling walk:")]
    assert lines == ["rolling walk: no users left after the position, so cycle 2 is complete (of ~60 users)"]


def test_a_user_created_at_the_same_moment_as_the_slices_last_goes_into_the_slice(requests_mock):
    mock_users(requests_mock, 120, created_at=lambda i: created(49 if i == 50 else i))  # only u49 and u50 share a moment
    output = sync(rolling_state(120, since_last_sync=timedelta(minutes=1)))  # a floor-sized slice of 50
    assert listed_users(requests_mock) == list(range(51))
    assert rolling_of(output).walked_through == created(49)


def test_streams_at_different_places_in_the_users_each_walk_their_own_slice(requests_mock):
    mock_users(requests_mock, 400)
    state = rolling_state(400)
    messages = {**state["messages"]["discovery"]}
    messages["rolling"] = {**messages["rolling"], "walked_through": created(199), "users_done": 200}
    output = sync({**state, "messages": {**state["messages"], "discovery": messages}}, streams=("conversations", "messages"))
    assert not output.errors
    assert len(user_filters(requests_mock)) == 2 and user_filters(requests_mock)[1] == {"created_from": created(199)}
    walked_through = (rolling_of(output, "conversations").walked_through, rolling_of(output, "messages").walked_through)
    assert walked_through == (created(99), created(299))


def test_messages_replaying_the_slice_tells_airbyte_how_much_it_will_read(requests_mock):
    mock_users(requests_mock, 400)
    recent = {"id": "m50", "created_time": format_timestamp(NOW - timedelta(hours=1))}
    requests_mock.get(f"{API}/conversations/c50/messages", json={"messages": [recent]})
    output = sync(rolling_state(400), streams=("conversations", "messages"))
    assert [record["id"] for record in records_of(output, "messages")] == ["m50"]
    assert any(m.trace.estimate and m.trace.estimate.name == "messages" for m in output.trace_messages)
