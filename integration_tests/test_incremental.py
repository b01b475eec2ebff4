"""Incremental syncs against an emulator whose data changes under the connector: nothing may be lost."""

import json
import subprocess

import pytest

from source_freshchat.fanout import USERS_PER_CHECKPOINT

from .emulator import FreshchatEmulator
from .harness import CONNECTOR, CURSORS, by_key, configured_catalog, reachable_records, run_connector

FAN_OUT = ["conversations", "messages"]


def union_by_key(stream, *runs):
    merged = {}
    for run in runs:
        merged.update(by_key(run.records(stream), stream))
    return merged


def test_changes_made_while_a_sync_pages_are_picked_up_by_the_next_sync(emulator, tmp_path):
    config = emulator.config(num_workers=4)
    catalog = configured_catalog(tmp_path, config, CURSORS, incremental=True)
    data = emulator.data
    user_ids = list(data.users)
    early_user, early_conversation = user_ids[0], data.user_conversations[user_ids[0]][0]
    changed = {}

    def change_what_was_already_read(route, path, query):
        # Once the sync is deep into the conversation details, touch records it has already passed.
        if route == "GET /v2/conversations/{id}" and emulator.request_counts[route] == 20 and not changed:
            changed["user"] = data.update_user(early_user, last_name="Changed-Mid-Sync")["id"]
            changed["conversation"] = data.update_conversation(early_conversation, status="reopened")["conversation_id"]
            changed["message"] = data.add_message(early_conversation)["id"]

    emulator.on_request(change_what_was_already_read)
    first = run_connector(tmp_path, "read", config, catalog)
    assert first.returncode == 0 and not first.errors() and changed
    emulator.clear_callbacks()

    second = run_connector(tmp_path, "read", config, catalog, first.final_state())
    assert second.returncode == 0 and not second.errors()
    assert changed["user"] in by_key(second.records("users"), "users")
    assert by_key(second.records("conversations"), "conversations")[changed["conversation"]]["status"] == "reopened"
    assert changed["message"] in by_key(second.records("messages"), "messages")
    for stream in CURSORS:  # and together the two syncs hold the current truth
        assert union_by_key(stream, first, second) | by_key(reachable_records(emulator, stream), stream) == union_by_key(
            stream, first, second
        )


def read_until_checkpoint(tmp_path, config, catalog, stream, state=None):
    """Runs a sync (from `state`, if given) and kills it right after `stream` emits its first mid-stream checkpoint."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    args = [str(CONNECTOR), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    records, states = {}, {}
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["record"]["stream"], []).append(message["record"]["data"])
        elif message["type"] == "STATE":
            stream_state = message["state"]["stream"]
            states[stream_state["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": stream_state}
            if stream_state["stream_descriptor"]["name"] == stream and "resume" in stream_state["stream_state"]:
                process.kill()
                break
    process.wait()
    return records, list(states.values())


@pytest.mark.parametrize("stream", FAN_OUT)
def test_a_killed_sync_resumes_from_its_checkpoint_without_losing_records(tmp_path, stream):
    users = USERS_PER_CHECKPOINT * 2 + 50
    with FreshchatEmulator(seed=23, users=users, conversations_per_user=1, messages_per_conversation=3) as emulator:
        config = emulator.config()
        catalog = configured_catalog(tmp_path, config, [stream], incremental=True)
        emulator.reset_counters()
        killed_records, killed_state = read_until_checkpoint(tmp_path, config, catalog, stream)
        checkpoint = killed_state[0]["stream"]["stream_state"]
        assert "resume" in checkpoint, "no mid-stream checkpoint was emitted"
        emulator.reset_counters()
        resumed = run_connector(tmp_path, "read", config, catalog, killed_state)
        assert resumed.returncode == 0 and not resumed.errors()

        truth = by_key(reachable_records(emulator, stream), stream)
        emitted = by_key(killed_records.get(stream, []), stream)
        emitted.update(by_key(resumed.records(stream), stream))
        assert emitted == truth
        # Not from zero: the resumed run walked only the users after the checkpoint.
        assert emulator.request_counts["GET /v2/users/{id}/conversations"] <= users - USERS_PER_CHECKPOINT + 1
        assert "resume" not in resumed.final_state()[0]["stream"]["stream_state"]


def test_full_refresh_reads_everything_on_every_run(emulator, tmp_path):
    config = emulator.config()
    catalog = configured_catalog(tmp_path, config)
    first = run_connector(tmp_path, "read", config, catalog)
    second = run_connector(tmp_path, "read", config, catalog, first.final_state())
    for stream in CURSORS:
        assert by_key(second.records(stream), stream) == by_key(reachable_records(emulator, stream), stream)
    assert len(second.records("agents")) == len(emulator.data.agents) > 50  # every page, not the first only


def test_switching_a_stream_from_full_refresh_to_incremental_and_back(emulator, tmp_path):
    config = emulator.config()
    full = configured_catalog(tmp_path, config, CURSORS)
    incremental = configured_catalog(tmp_path, config, CURSORS, incremental=True)
    first = run_connector(tmp_path, "read", config, full)
    then_incremental = run_connector(tmp_path, "read", config, incremental, first.final_state())
    for stream, cursor_field in CURSORS.items():
        since = (
            first.final_state()
            and {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in first.final_state()}[stream][cursor_field]
        )
        assert all(record[cursor_field] >= since for record in then_incremental.records(stream))
    back_to_full = run_connector(tmp_path, "read", config, full, then_incremental.final_state())
    for stream in CURSORS:
        assert by_key(back_to_full.records(stream), stream) == by_key(reachable_records(emulator, stream), stream)


def messages_state(run):
    return {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in run.final_state()}["messages"]


def test_incremental_messages_skip_conversations_not_updated_since_the_cursor(tmp_path):
    with FreshchatEmulator(seed=29, users=20, conversations_per_user=2, messages_per_conversation=120) as emulator:
        config = emulator.config()
        catalog = configured_catalog(tmp_path, config, FAN_OUT, incremental=True)
        emulator.reset_counters()
        first = run_connector(tmp_path, "read", config, catalog)
        full_message_requests = emulator.request_counts["GET /v2/conversations/{id}/messages"]
        assert full_message_requests == 3 * len(emulator.data.conversations)  # 120 messages: three pages each
        assert messages_state(first)["updated_time_covers_messages"] is True

        talkative = next(iter(emulator.data.conversations))
        new_message = emulator.data.add_message(talkative)
        emulator.reset_counters()
        second = run_connector(tmp_path, "read", config, catalog, first.final_state())
        assert new_message["id"] in by_key(second.records("messages"), "messages")
        # Only conversations updated since the cursor cost a request, and one page each.
        updated_since = [c for c in emulator.data.conversations.values() if c["updated_time"] >= messages_state(first)["created_time"]]
        assert emulator.request_counts["GET /v2/conversations/{id}/messages"] == len(updated_since) < len(emulator.data.conversations) / 4


def test_an_account_whose_updated_time_ignores_messages_is_never_skipped(tmp_path):
    with FreshchatEmulator(seed=31, users=10, conversations_per_user=2, messages_per_conversation=5) as emulator:
        emulator.behaviour.message_bumps_conversation = False
        for conversation_id in list(emulator.data.conversations)[:3]:
            emulator.data.add_message(conversation_id)
        config = emulator.config()
        catalog = configured_catalog(tmp_path, config, FAN_OUT, incremental=True)
        first = run_connector(tmp_path, "read", config, catalog)
        assert messages_state(first)["updated_time_covers_messages"] is False
        quiet = emulator.data.add_message(list(emulator.data.conversations)[5])  # its updated_time does not move
        emulator.reset_counters()
        second = run_connector(tmp_path, "read", config, catalog, first.final_state())
        assert quiet["id"] in by_key(second.records("messages"), "messages")
        assert emulator.request_counts["GET /v2/conversations/{id}/messages"] == len(emulator.data.conversations)
