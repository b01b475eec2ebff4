"""Each stream against mocked HTTP: exact requests, paging end, records, state."""

import re

import pytest
from airbyte_cdk.models import SyncMode

from .conftest import (
    API,
    CONFIG,
    calls,
    conversation,
    envelope,
    final_state,
    message,
    mock_account_tree,
    query_of,
    records_of,
    run_read,
    user,
)

USERS_FIRST_PAGE = f"{API}/users?page=1&items_per_page=50&sort_order=asc&created_from=2000-01-01T00%3A00%3A00.000Z"


def test_account_is_one_record(requests_mock):
    requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "42", "app_id": "app"})
    output = run_read(["account"])
    assert records_of(output, "account") == [{"account_id": "42", "app_id": "app"}]
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {CONFIG['api_key']}"
    assert requests_mock.last_request.headers["Accept"] == "application/json"


@pytest.mark.parametrize("stream", ["agents", "groups", "channels", "roles"])
def test_directory_lists_follow_relative_links_until_next_page_is_absent(requests_mock, stream):
    second = f"/v2/{stream}?page=2&items_per_page=50&sort_order=asc"
    requests_mock.get(
        f"{API}/{stream}",
        [
            {"json": envelope(stream, [{"id": "1"}, {"id": "2"}], next_href=second)},
            {"json": envelope(stream, [{"id": "3"}])},
        ],
    )
    output = run_read([stream])
    assert [r["id"] for r in records_of(output, stream)] == ["1", "2", "3"]
    assert [query_of(r) for r in requests_mock.request_history] == [
        {"page": "1", "items_per_page": "50", "sort_order": "asc"},
        {"page": "2", "items_per_page": "50", "sort_order": "asc"},
    ]


def test_a_404_wrong_page_past_the_end_ends_paging(requests_mock):
    requests_mock.get(
        f"{API}/agents",
        [
            {"json": envelope("agents", [{"id": "1"}], next_href="/v2/agents?page=2&items_per_page=50")},
            {"status_code": 404, "json": {"code": 404, "status": "WRONG_PAGE", "message": "page not found"}},
        ],
    )
    output = run_read(["agents"])
    assert [r["id"] for r in records_of(output, "agents")] == ["1"]
    assert not output.errors


def test_a_next_page_link_to_another_host_is_never_followed(requests_mock):
    requests_mock.get(f"{API}/agents", json=envelope("agents", [{"id": "1"}], next_href="https://evil.example.com/v2/agents?page=2"))
    evil = requests_mock.get("https://evil.example.com/v2/agents", json=envelope("agents", []))
    output = run_read(["agents"])
    assert evil.call_count == 0
    assert "another host" in output.errors[0].trace.error.message


def test_a_link_to_the_same_page_fails_instead_of_looping(requests_mock):
    requests_mock.get(f"{API}/roles", json=envelope("roles", [{"id": "1"}], next_href="/v2/roles?page=1&items_per_page=50&sort_order=asc"))
    output = run_read(["roles"])
    assert requests_mock.call_count == 1
    assert "links to the page it is on" in output.errors[0].trace.error.message


def test_a_missing_envelope_key_fails_loudly(requests_mock):
    requests_mock.get(f"{API}/groups", json={"items": []})
    output = run_read(["groups"])
    assert "has no 'groups' list" in output.errors[0].trace.error.message


def test_conversation_properties_is_a_bare_array(requests_mock):
    fields = [{"id": "f1", "name": "priority", "type": "DROPDOWN", "choices": [{"id": "c1", "value": "High"}]}]
    requests_mock.get(f"{API}/conversations/fields", json=fields)
    assert records_of(run_read(["conversation_properties"]), "conversation_properties") == fields


@pytest.mark.parametrize(
    "created_on, created_time",
    [
        (1720641075442, "2024-07-10T19:51:15.442Z"),  # epoch milliseconds, as recorded responses carry
        (1566970961, "2019-08-28T05:42:41.000Z"),  # epoch seconds, Freshchat's documented example
    ],
)
def test_outbound_messages_derive_created_time_from_epoch_seconds_or_milliseconds(requests_mock, created_on, created_time):
    requests_mock.get(
        f"{API}/outbound-messages",
        json=envelope("outbound_messages", [{"message_id": "m1", "created_on": created_on, "status": "SENT"}]),
    )
    [record] = records_of(run_read(["outbound_messages"]), "outbound_messages")
    assert record == {"message_id": "m1", "created_on": created_on, "status": "SENT", "created_time": created_time}


@pytest.mark.parametrize("status", [400, 404])
def test_outbound_messages_refused_by_the_account_is_an_empty_stream_with_a_warning(requests_mock, status):
    requests_mock.get(
        f"{API}/outbound-messages", status_code=status, json={"code": status, "status": "BAD_REQUEST", "message": "request_id is required"}
    )
    output = run_read(["outbound_messages"])
    assert records_of(output, "outbound_messages") == []
    assert not output.errors
    assert any("does not list outbound messages" in log.log.message and log.log.level.name == "WARN" for log in output.logs)


def test_users_full_read_sends_the_filter_that_admits_everyone(requests_mock):
    requests_mock.get(f"{API}/users", json=envelope("users", [user("u1"), user("u2")]))
    output = run_read(["users"])
    assert [r["id"] for r in records_of(output, "users")] == ["u1", "u2"]
    assert requests_mock.last_request.url == USERS_FIRST_PAGE


def test_users_incremental_sends_updated_from_and_rechecks_it(requests_mock):
    # The server may ignore updated_from: an old user that comes back anyway is dropped here.
    requests_mock.get(
        f"{API}/users",
        json=envelope(
            "users",
            [user("old", "2025-01-01T00:00:00.000Z"), user("same", "2025-02-01T00:00:00.000Z"), user("new", "2025-03-01T00:00:00.000Z")],
        ),
    )
    output = run_read(["users"], sync_mode=SyncMode.incremental, state={"users": {"updated_time": "2025-02-01T00:00:00.000Z"}})
    assert [r["id"] for r in records_of(output, "users")] == ["same", "new"]
    assert query_of(requests_mock.last_request)["updated_from"] == "2025-02-01T00:00:00.000Z"
    assert "created_from" not in query_of(requests_mock.last_request)
    assert final_state(output, "users") == {"updated_time": "2025-03-01T00:00:00.000Z"}


def test_start_date_is_the_floor_when_there_is_no_state(requests_mock):
    requests_mock.get(
        f"{API}/users", json=envelope("users", [user("old", "2023-01-01T00:00:00.000Z"), user("new", "2025-03-01T00:00:00.000Z")])
    )
    output = run_read(["users"], config={**CONFIG, "start_date": "2024-01-01"}, sync_mode=SyncMode.incremental)
    assert [r["id"] for r in records_of(output, "users")] == ["new"]
    assert query_of(requests_mock.last_request)["updated_from"] == "2024-01-01T00:00:00.000Z"


def test_users_full_refresh_ignores_state(requests_mock):
    requests_mock.get(f"{API}/users", json=envelope("users", [user("u1", "2020-01-01T00:00:00.000Z")]))
    output = run_read(["users"], state={"users": {"updated_time": "2025-02-01T00:00:00.000Z"}})
    assert [r["id"] for r in records_of(output, "users")] == ["u1"]


def test_conversations_are_fetched_once_each_even_when_shared_by_users(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "c2"], "u2": ["c2", "c3"]})
    output = run_read(["conversations"])
    assert sorted(r["conversation_id"] for r in records_of(output, "conversations")) == ["c1", "c2", "c3"]
    assert calls(requests_mock, "conversations/c2") == 1


def test_a_conversation_deleted_between_listing_and_fetching_is_skipped_and_logged(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "gone"]}, missing={"gone"})
    output = run_read(["conversations"])
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c1"]
    assert not output.errors
    assert any("conversations/gone" in log.log.message and "deleted" in log.log.message for log in output.logs)


def test_a_user_deleted_between_listing_and_fetching_is_skipped(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1"]})
    requests_mock.get(f"{API}/users", json=envelope("users", [user("u1"), user("ghost")]))
    requests_mock.get(
        f"{API}/users/ghost/conversations", status_code=404, json={"code": 404, "status": "USER_NOT_FOUND", "message": "no user"}
    )
    output = run_read(["conversations"])
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c1"]
    assert not output.errors


def test_conversations_incremental_filters_on_updated_time_and_moves_the_cursor(requests_mock):
    mock_account_tree(requests_mock, {"u1": ["c1", "c2"]})
    requests_mock.get(f"{API}/conversations/c2", json=conversation("c2", "2025-06-01T00:00:00.000Z"))
    output = run_read(
        ["conversations"], sync_mode=SyncMode.incremental, state={"conversations": {"updated_time": "2025-03-01T00:00:00.000Z"}}
    )
    assert [r["conversation_id"] for r in records_of(output, "conversations")] == ["c2"]
    state = final_state(output, "conversations")
    assert state["updated_time"] == "2025-06-01T00:00:00.000Z"
    walk = state["discovery"]  # a complete walk: the next sync may follow the change feed until the next one is due
    assert (walk["walk_users"], walk["walk_conversations"], walk["feed_since_walk"]) == (1, 2, False)
    assert walk["last_full_walk"] == walk["changes_through"]


def test_messages_follow_link_and_carry_their_conversation_id(requests_mock):
    newest = [message("m3", "c1", "2025-03-03T00:00:00.000Z"), {"id": "m2", "created_time": "2025-03-02T00:00:00.000Z"}]
    mock_account_tree(
        requests_mock,
        {"u1": ["c1"]},
        {
            "c1": [
                {
                    "messages": newest,
                    "link": {"href": "/v2/conversations/c1/messages?page=2&items_per_page=50", "rel": "next", "type": "GET"},
                },
                {"messages": [message("m1", "c1", "2025-03-01T00:00:00.000Z")]},
            ]
        },
    )
    output = run_read(["messages"])
    assert [(r["id"], r["conversation_id"]) for r in records_of(output, "messages")] == [("m3", "c1"), ("m2", "c1"), ("m1", "c1")]
    message_requests = [query_of(r) for r in requests_mock.request_history if r.path.endswith("/messages")]
    assert message_requests == [{"page": "1", "items_per_page": "50"}, {"page": "2", "items_per_page": "50"}]


def test_messages_incremental_stops_paging_at_the_cursor(requests_mock):
    mock_account_tree(
        requests_mock,
        {"u1": ["c1"]},
        {
            "c1": [
                {
                    "messages": [
                        message("m3", "c1", "2025-03-03T00:00:00.000Z"),
                        message("m2", "c1", "2025-03-02T00:00:00.000Z"),
                        message("m1", "c1", "2025-03-01T00:00:00.000Z"),
                    ],
                    "link": {"href": "/v2/conversations/c1/messages?page=2&items_per_page=50"},
                },
                {"messages": [message("m0", "c1", "2025-02-01T00:00:00.000Z")]},
            ]
        },
    )
    output = run_read(["messages"], sync_mode=SyncMode.incremental, state={"messages": {"created_time": "2025-03-02T00:00:00.000Z"}})
    assert [r["id"] for r in records_of(output, "messages")] == ["m3", "m2"]  # the one exactly at the cursor is read again
    assert calls(requests_mock, "conversations/c1/messages") == 1
    assert final_state(output, "messages")["created_time"] == "2025-03-03T00:00:00.000Z"


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


def test_ids_from_responses_cannot_step_out_of_their_path_segment(requests_mock):
    mock_account_tree(requests_mock, {"u1": []})
    requests_mock.get(f"{API}/users/u1/conversations", json={"conversations": [{"id": "../../accounts/configuration"}]})
    escaped = requests_mock.get(
        f"{API}/conversations/..%2F..%2Faccounts%2Fconfiguration", status_code=404, json={"code": 404, "status": "NOT_FOUND"}
    )
    account = requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "1"})
    run_read(["conversations"])
    assert escaped.call_count == 1 and account.call_count == 0


def test_a_catalog_naming_an_unknown_stream_is_a_config_error(requests_mock):
    output = run_read(["tickets"])
    assert output.errors and output.errors[-1].trace.error.failure_type.value == "config_error"
    assert requests_mock.call_count == 0


def test_proxy_settings_from_the_environment_still_apply(monkeypatch):
    from source_freshchat.config import parse_settings
    from source_freshchat.streams.directory import Agents
    from source_freshchat.sync import Sync

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    kwargs = Agents(Sync(parse_settings(CONFIG))).request_kwargs(stream_state={})
    assert kwargs["proxies"]["https"] == "http://proxy.example:3128"
    assert kwargs["verify"] == "/etc/ssl/corporate.pem"


def test_progress_marks_stop_once_users_come_out_of_created_time_order(requests_mock):
    from source_freshchat.config import parse_settings

    from .conftest import sync_of

    created = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-01-15T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]
    requests_mock.get(f"{API}/users", json=envelope("users", [{"id": f"u{i}", "created_time": c} for i, c in enumerate(created)]))
    requests_mock.get(re.compile(rf"{API}/users/u\d/conversations"), json={"conversations": []})
    settings = parse_settings(CONFIG)
    walk = sync_of(settings).walk
    marks = [batch.user_created for batch in walk.conversation_batches(lambda ref: [], "conversations")]
    assert marks == created[:2] + [None, None]


def test_outbound_messages_keep_a_created_time_they_have_and_records_without_created_on():
    from source_freshchat.streams.outbound_messages import with_created_time

    for record in ({"message_id": "1"}, {"created_on": 1735689600000, "created_time": "given"}, {"created_on": True}):
        assert with_created_time(record) == record


def test_conversation_properties_that_are_not_an_array_are_a_changed_shape(requests_mock):
    requests_mock.get(f"{API}/conversations/fields", json={"fields": []})
    output = run_read(["conversation_properties"])
    assert "has no JSON array" in output.errors[0].trace.error.message
