"""The change feed end to end: the installed connector against the emulator's Extract API and storage host.

Each kind of change is made after a first (walking) sync; the next incremental sync must find it through the
report events, without listing any user's conversations, or, for a property-only edit, by the rolling walk's slice.
To see the feed alone, most syncs here start with the rolling walk past the last user (`feed_only`), so its slice is
empty; integration_tests/test_rolling_walk.py tests the rolling walk itself.
"""

import json
import math

import pytest

from .emulator import Behaviour, FreshchatEmulator
from .harness import configured_catalog, run_connector, wait_for_the_next_second

FAN_OUT = ["users", "conversations", "messages"]
LISTING = "GET /v2/users/{id}/conversations"
DETAILS = "GET /v2/conversations/{id}"
MESSAGE_PAGES = "GET /v2/conversations/{id}/messages"
REPORT_ROUTES = ("POST /v2/reports/raw", "GET /v2/reports/raw/{id}")
# 100 users x 2 conversations: a walk of about 300 requests, so `auto` prefers the feed.
ACCOUNT = dict(seed=41, users=100, conversations_per_user=2, messages_per_conversation=4, recent=True)


def feed_emulator(**behaviour) -> FreshchatEmulator:
    return FreshchatEmulator(**ACCOUNT, behaviour=Behaviour(report_pending_polls=0, **behaviour))


def first_sync(emulator, tmp_path, **config):
    config = emulator.config(**config)
    catalog = configured_catalog(tmp_path, config, FAN_OUT, incremental=True)
    first = run_connector(tmp_path, "read", config, catalog)
    assert first.returncode == 0 and not first.errors(), first.stderr[-2000:]
    assert any("walk every user this sync: first sync" in line for line in first.logs())
    return config, catalog, first


def change_one_of_each_kind(data):
    """One conversation per kind of change; returns {kind: conversation id} and the new message ids."""
    conversations = list(data.conversations)
    changed = {
        "user_message": conversations[3],
        "agent_message": conversations[10],
        "resolved": conversations[20],
        "assigned": conversations[30],
        "property_only": conversations[40],
    }
    messages = [
        data.add_message(changed["user_message"], actor_type="user")["id"],
        data.add_message(changed["agent_message"], actor_type="agent")["id"],
    ]
    data.resolve_conversation(changed["resolved"])
    data.assign_conversation(changed["assigned"], agent_id=data.agents[0]["id"])
    data.update_conversation(changed["property_only"], properties={"priority": "changed-alone"})
    user_id = next(iter(data.users))
    new = data.add_conversation(user_id)
    messages.append(data.add_message(new["conversation_id"], actor_type="user")["id"])
    changed["created"] = new["conversation_id"]
    wait_for_the_next_second()
    return changed, messages


def test_a_feed_sync_finds_every_change_the_events_show_and_costs_only_what_changed(tmp_path):
    with feed_emulator() as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        changed, new_messages = change_one_of_each_kind(emulator.data)
        emulator.reset_counters()
        second = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, first.final_state()))
        assert second.returncode == 0 and not second.errors(), second.stderr[-2000:]
        assert any("follow the change feed this sync (auto)" in line for line in second.logs())

        counts = emulator.request_counts
        assert counts[LISTING] == 0, "a feed sync lists no user's conversations"
        seen = {record["conversation_id"]: record for record in second.records("conversations")}
        for kind in ("user_message", "agent_message", "resolved", "assigned", "created"):
            assert changed[kind] in seen, f"the feed missed the {kind} change"
        assert seen[changed["resolved"]]["status"] == "resolved"
        assert changed["property_only"] not in seen, "a property-only edit has no event: it waits for the rolling walk"
        assert set(new_messages) <= {message["id"] for message in second.records("messages")}

        feed_conversations = 5  # the five conversations with events
        changed_users = len(second.records("users"))
        report_traffic = sum(counts[route] for route in REPORT_ROUTES)
        api_requests = sum(count for route, count in counts.items() if route != "GET storage")
        assert counts[DETAILS] == feed_conversations
        assert counts[MESSAGE_PAGES] <= 2 * feed_conversations  # one page each, the messages stream included
        empty_slice = 1  # the rolling walk's one users page, which finds no user after its position
        assert api_requests <= report_traffic + math.ceil(max(changed_users, 1) / 50) + feed_conversations * 2 + empty_slice
        assert counts["POST /v2/reports/raw"] == 5

        # Nothing changed since: the overlap re-reads the last hour's five conversations, and nothing else.
        emulator.reset_counters()
        third = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, second.final_state()))
        assert third.returncode == 0 and emulator.request_counts[DETAILS] == feed_conversations
        assert emulator.request_counts[LISTING] == 0
        emulator.reset_counters()
        no_overlap = run_connector(
            tmp_path, "read", {**config, "feed_overlap_minutes": 0}, catalog, state=feed_only(emulator, third.final_state())
        )
        assert no_overlap.returncode == 0 and emulator.request_counts[DETAILS] == 0 and emulator.request_counts[LISTING] == 0

        # From the first sync's state, the rolling walk's cycle (two slices of 50 users) finds the property-only edit.
        walked, state = {}, first.final_state()
        for _ in range(2):
            rolled = run_connector(tmp_path, "read", config, catalog, state=state)
            walked.update((record["conversation_id"], record) for record in rolled.records("conversations"))
            state = rolled.final_state()
        assert walked[changed["property_only"]]["properties"]["priority"] == "changed-alone"


def feed_only(emulator, state):
    """The state with the rolling walk past the last user, so that the next sync's slice is empty and the feed reads alone.

    Only for tests of the feed: it skips users, so it breaks the rolling walk's guarantee for the cycle it ends.
    """
    last_user = max(user["created_time"] for user in emulator.data.users.values())
    moved = json.loads(json.dumps(state))
    for entry in moved:
        discovery = entry["stream"]["stream_state"].get("discovery", {})
        if discovery.get("rolling"):
            done = {"users_done": discovery["walk_users"], "conversations_done": discovery["walk_conversations"]}
            discovery["rolling"].update(walked_through=last_user, slice_through=None, **done)
    return moved


@pytest.mark.parametrize("extract_api", ["forbidden", "missing"])
def test_auto_walks_with_one_warning_where_the_account_has_no_extract_api(tmp_path, extract_api):
    with feed_emulator(extract_api=extract_api) as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        changed, _ = change_one_of_each_kind(emulator.data)
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert second.returncode == 0 and not second.errors()
        warnings = [line for line in second.logs("WARN") if "change feed is unavailable" in line]
        assert len(warnings) == 1 and "no Extract API" in warnings[0]
        assert emulator.request_counts[LISTING] > 0
        assert changed["property_only"] in {record["conversation_id"] for record in second.records("conversations")}


def test_extract_mode_fails_the_fan_out_streams_loudly_when_reports_keep_failing(tmp_path):
    with feed_emulator() as emulator:
        config, catalog, first = first_sync(emulator, tmp_path, conversation_discovery="extract")
        emulator.behaviour.report_failures = {"Conversation-Created": 3}
        emulator.reset_counters()
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert second.returncode != 0 or second.errors()
        assert any("Gave up on the Conversation-Created report" in error for error in second.errors())
        assert emulator.request_counts[LISTING] == 0
        conversation_states = [s for s in second.final_state() if s["stream"]["stream_descriptor"]["name"] == "conversations"]
        first_states = [s for s in first.final_state() if s["stream"]["stream_descriptor"]["name"] == "conversations"]
        assert all(state == first_states[0] for state in conversation_states)  # the cursor did not move past what was read


def test_a_refused_chat_transcript_uses_message_sent_and_user_only_messages_wait_for_the_walk(tmp_path):
    with feed_emulator(refused_events={"Chat-Transcript"}) as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        data = emulator.data
        conversations = list(data.conversations)
        user_only, by_agent = conversations[5], conversations[6]
        data.add_message(user_only, actor_type="user")
        data.add_message(by_agent, actor_type="agent")
        wait_for_the_next_second()
        second = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, first.final_state()))
        assert second.returncode == 0 and not second.errors()
        assert len([line for line in second.logs("WARN") if "only the user wrote wait for the rolling walk" in line]) == 1
        seen = {record["conversation_id"] for record in second.records("conversations")}
        assert by_agent in seen and user_only not in seen


def test_an_event_that_reaches_reports_late_is_caught_by_the_overlap(tmp_path):
    with feed_emulator() as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        emulator.behaviour.report_lag_seconds = 3600  # nothing that happens now is visible yet
        late = emulator.data.add_message(list(emulator.data.conversations)[7], actor_type="user")
        second = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, first.final_state()))
        assert late["id"] not in {message["id"] for message in second.records("messages")}
        emulator.behaviour.report_lag_seconds = 0  # the event shows up, inside the next window's overlap
        third = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, second.final_state()))
        assert late["id"] in {message["id"] for message in third.records("messages")}


def test_report_downloads_carry_no_credentials_and_no_link_query_is_ever_printed(tmp_path):
    with feed_emulator(report_link_hours=1) as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        change_one_of_each_kind(emulator.data)
        emulator.expire_links()  # links issued so far are dead; fresh ones come from polling again
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert second.returncode == 0 and not second.errors()
        assert emulator.storage_log, "the feed downloaded its reports"
        for path, query, headers, status in emulator.storage_log:
            lowered = {name.lower() for name in headers}
            assert "authorization" not in lowered and "cookie" not in lowered, path
        output = second.stdout + second.stderr
        assert "X-Amz-Signature" not in output and "X-Amz-Credential" not in output
        assert config["api_key"] not in output


def test_a_redirect_to_plain_http_is_refused(tmp_path):
    with feed_emulator(storage_redirect="http") as emulator:
        config, catalog, first = first_sync(emulator, tmp_path, conversation_discovery="extract")
        change_one_of_each_kind(emulator.data)
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert any("not https" in error for error in second.errors())
        assert all(not path.startswith("http://storage.invalid") for path, *_ in emulator.storage_log)


def test_the_feed_over_tls_trusts_the_storage_host_through_the_ca_bundle(tmp_path, monkeypatch):
    with FreshchatEmulator(**ACCOUNT, behaviour=Behaviour(report_pending_polls=0), tls=True) as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)  # inherited by the connector's process
        assert emulator.storage_url.startswith("https://")
        config, catalog, first = first_sync(emulator, tmp_path, conversation_discovery="extract")
        changed, _ = change_one_of_each_kind(emulator.data)
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert second.returncode == 0 and not second.errors(), second.stderr[-2000:]
        assert changed["resolved"] in {record["conversation_id"] for record in second.records("conversations")}
        assert emulator.storage_log and all(status == 200 for *_, status in emulator.storage_log)
