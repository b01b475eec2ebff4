"""The installed `source-freshchat` command against the emulator, compared record by record with its data."""

import jsonschema
import pytest

from source_freshchat.config import DEFAULT_NUM_WORKERS
from source_freshchat.streams.report_events import EVENTS

from .emulator import Behaviour, FreshchatEmulator
from .harness import CURSORS, STREAMS, by_key, configured_catalog, primary_key, reachable_records, run_connector


def test_spec_describes_the_config(tmp_path):
    run = run_connector(tmp_path, "spec")
    assert run.returncode == 0
    properties = run.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]
    assert properties["api_key"]["airbyte_secret"] is True
    assert {"domain", "api_key", "start_date", "num_workers"} <= set(properties)


def connection_status(run):
    assert run.returncode == 0, run.stderr
    return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]


def test_check_with_a_good_key(emulator, tmp_path):
    assert connection_status(run_connector(tmp_path, "check", emulator.config()))["status"] == "SUCCEEDED"


def test_check_with_a_wrong_key(emulator, tmp_path):
    status = connection_status(run_connector(tmp_path, "check", emulator.config(api_key="wrong-key")))
    assert status["status"] == "FAILED" and "rejected the API key (HTTP 401)" in status["message"]


def test_check_with_a_key_of_another_datacenter(emulator, tmp_path):
    emulator.behaviour.forbidden_keys = {emulator.api_key}
    status = connection_status(run_connector(tmp_path, "check", emulator.config()))
    assert status["status"] == "FAILED" and "datacenter" in status["message"]


def test_check_against_a_host_answering_html(emulator, tmp_path):
    emulator.behaviour.html_everywhere = True
    status = connection_status(run_connector(tmp_path, "check", emulator.config()))
    assert status["status"] == "FAILED" and "not JSON (an HTML page)" in status["message"]


def test_discover_lists_every_stream_with_keys_and_cursors(emulator, tmp_path):
    streams = {s["name"]: s for s in run_connector(tmp_path, "discover", emulator.config()).of_type("CATALOG")[0]["catalog"]["streams"]}
    reports = {event.stream: event for event in EVENTS.values()}
    assert sorted(streams) == sorted([*STREAMS, *reports])
    for name, stream in streams.items():
        if name in reports:
            event = reports[name]
            assert stream["source_defined_primary_key"] == [[event.natural_key or "event_id"]]
            assert stream["default_cursor_field"] == [event.time_column]
            assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
            continue
        assert stream["source_defined_primary_key"] == [[primary_key(name)]]
        assert stream.get("default_cursor_field") == ([CURSORS[name]] if name in CURSORS else None)


def assert_matches_truth(run, emulator, schemas):
    for stream in STREAMS:
        emitted = run.records(stream)
        keys = [record[primary_key(stream)] for record in emitted]
        assert len(keys) == len(set(keys)), f"{stream}: duplicated records"
        expected = by_key(reachable_records(emulator, stream), stream)
        assert by_key(emitted, stream) == expected, f"{stream}: records differ from the API's"
        validator = jsonschema.Draft7Validator(schemas[stream], format_checker=jsonschema.FormatChecker())
        for record in emitted:
            validator.validate(record)


@pytest.mark.parametrize("num_workers", [1, DEFAULT_NUM_WORKERS])
def test_full_read_returns_every_record_once(emulator, tmp_path, num_workers):
    config = emulator.config(num_workers=num_workers)
    catalog = configured_catalog(tmp_path, config)
    emulator.reset_counters()
    run = run_connector(tmp_path, "read", config, catalog)
    assert run.returncode == 0 and not run.errors(), run.errors()
    assert_matches_truth(run, emulator, {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]})
    # Each parent once: one user listing page, one conversation listing per user, one detail per conversation.
    assert emulator.request_counts["GET /v2/users"] == 1
    assert emulator.request_counts["GET /v2/users/{id}/conversations"] == len(emulator.data.users)
    assert emulator.request_counts["GET /v2/conversations/{id}"] == len(emulator.data.conversations)


def test_full_read_survives_the_uncertain_api_variants(emulator, tmp_path):
    emulator.behaviour.page_past_end = "404"
    emulator.behaviour.over_max_page_size = "reject"
    emulator.behaviour.users_filter_updated_from = False
    emulator.behaviour.retry_after = False
    config = emulator.config()
    catalog = configured_catalog(tmp_path, config)
    run = run_connector(tmp_path, "read", config, catalog)
    assert run.returncode == 0 and not run.errors(), run.errors()
    assert_matches_truth(run, emulator, {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]})


def test_a_stream_refused_with_403_fails_alone_while_every_other_stream_is_read(emulator, tmp_path):
    """A token without the scope of one endpoint (or a plan without the feature) costs that stream only."""
    emulator.inject("GET /v2/agents", [403])
    config = emulator.config()
    catalog = configured_catalog(tmp_path, config)
    run = run_connector(tmp_path, "read", config, catalog)

    assert run.returncode != 0  # the sync ends failed, never silently green
    agents_error, sync_error = run.errors()
    assert "`agents` stream" in agents_error and "GET /v2/agents" in agents_error and "scope" in agents_error
    assert "agents" in sync_error
    statuses = {
        m["trace"]["stream_status"]["stream_descriptor"]["name"]: m["trace"]["stream_status"]["status"]
        for m in run.of_type("TRACE")
        if m["trace"]["type"] == "STREAM_STATUS"
    }
    assert statuses == {stream: "INCOMPLETE" if stream == "agents" else "COMPLETE" for stream in STREAMS}
    for stream in set(STREAMS) - {"agents"}:
        assert by_key(run.records(stream), stream) == by_key(reachable_records(emulator, stream), stream), stream


@pytest.mark.parametrize("refusal", ["refuse_400", "refuse_404"])
def test_outbound_messages_refused_by_the_account_warn_and_do_not_fail(emulator, tmp_path, refusal):
    emulator.behaviour.outbound_list = refusal
    config = emulator.config()
    run = run_connector(tmp_path, "read", config, configured_catalog(tmp_path, config, ["outbound_messages", "roles"]))
    assert run.returncode == 0 and not run.errors()
    assert run.records("outbound_messages") == [] and len(run.records("roles")) == len(emulator.data.roles)
    assert any("does not list outbound messages" in line for line in run.logs("WARN"))


def test_incremental_read_after_changes_returns_exactly_what_changed(emulator, tmp_path):
    config = emulator.config()
    catalog = configured_catalog(tmp_path, config, CURSORS, incremental=True)
    first = run_connector(tmp_path, "read", config, catalog)
    assert first.returncode == 0 and not first.errors()
    cursors = {state["stream"]["stream_descriptor"]["name"]: state["stream"]["stream_state"] for state in first.final_state()}

    data = emulator.data
    user_ids = list(data.users)
    updated_user = data.update_user(user_ids[0], first_name="Renamed")
    talkative = data.user_conversations[user_ids[1]][0]
    new_message = data.add_message(talkative)
    reassigned = data.update_conversation(data.user_conversations[user_ids[2]][0], status="resolved")
    new_user = data.add_user()
    new_conversation = data.add_conversation(new_user["id"])
    first_words = data.add_message(new_conversation["conversation_id"])
    data.delete_conversation(data.user_conversations[user_ids[3]][0])

    emulator.reset_counters()
    second = run_connector(tmp_path, "read", config, catalog, first.final_state())
    assert second.returncode == 0 and not second.errors()
    for stream, cursor_field in CURSORS.items():
        since = cursors[stream][cursor_field]
        truth = {
            key: record for key, record in by_key(reachable_records(emulator, stream), stream).items() if record[cursor_field] >= since
        }
        assert by_key(second.records(stream), stream) == truth, stream
    assert {updated_user["id"], new_user["id"]} <= set(by_key(second.records("users"), "users"))
    assert {talkative, reassigned["conversation_id"], new_conversation["conversation_id"]} <= set(
        by_key(second.records("conversations"), "conversations")
    )
    assert {new_message["id"], first_words["id"]} <= set(by_key(second.records("messages"), "messages"))
    # Messages: one page per conversation at most, since each holds fewer than 50 new messages.
    assert emulator.request_counts["GET /v2/conversations/{id}/messages"] <= len(data.conversations)
    # Users are listed twice (README, Streams): the users stream asks only for the users updated since its cursor,
    # which is not the whole list, so the walk behind conversations and messages lists every user, once.
    user_listings = [query for _, path, query, _, _ in emulator.request_log if path == "/v2/users"]
    assert [sorted(set(query) & {"updated_from", "created_from"}) for query in user_listings] == [["updated_from"], ["created_from"]]


def test_a_tight_rate_limit_is_paced_instead_of_answered_with_429s(tmp_path):
    limited = Behaviour(rate_limit=40, rate_limit_window_seconds=2)
    with FreshchatEmulator(seed=13, users=40, conversations_per_user=1, messages_per_conversation=3, behaviour=limited) as emulator:
        config = emulator.config()
        catalog = configured_catalog(tmp_path, config)
        emulator.reset_counters()
        run = run_connector(tmp_path, "read", config, catalog)
        assert run.returncode == 0 and not run.errors()
        assert sum(emulator.request_counts.values()) > 3 * 40  # the limit really was binding, several windows over
        assert emulator.status_counts[429] <= 2
        assert any("Paced by Freshchat's rate limit" in line for line in run.logs())
        for stream in STREAMS:
            assert by_key(run.records(stream), stream) == by_key(reachable_records(emulator, stream), stream)
