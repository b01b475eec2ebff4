"""Tests of the Freshchat emulator itself, over real HTTP."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from integration_tests.emulator import Behaviour, Dataset, FreshchatEmulator
from integration_tests.emulator.data import ACTOR_TYPES, PART_KINDS, STREAM_NAMES

API_KEY = "test-api-key"
ALL_USERS = {"created_from": "2000-01-01T00:00:00Z"}


class Api:
    """A keep-alive client for one emulator, authenticated unless told otherwise."""

    def __init__(self, emulator: FreshchatEmulator, token: str = API_KEY):
        self.emulator = emulator
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, timeout: float = 5, **params) -> requests.Response:
        return self.session.get(self.emulator.url + path, params=params, timeout=timeout)

    def json(self, path: str, **params):
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def follow(self, response_json: dict, link_path: tuple) -> dict:
        """Follows a relative link the way a connector must: joined to scheme and host."""
        href = response_json
        for key in link_path:
            href = href[key]
        assert href.startswith("/v2/")
        return self.json(href)


@pytest.fixture
def emu():
    with FreshchatEmulator(seed=7, users=20, conversations_per_user=2, messages_per_conversation=7) as emulator:
        yield emulator


@pytest.fixture
def api(emu):
    client = Api(emu)
    yield client
    client.session.close()


def first_user_id(emu) -> str:
    return next(iter(emu.data.users))


def first_conversation_id(emu) -> str:
    return next(iter(emu.data.conversations))


# -- account, users -------------------------------------------------------------------------
def test_account_configuration_is_a_bare_object(api, emu):
    account = api.json("/v2/accounts/configuration")
    assert account == emu.data.account
    assert account["account_id"] and account["app_id"]


def test_users_envelope_pagination_and_relative_links(api, emu):
    body = api.json("/v2/users", items_per_page=5, page=2, **ALL_USERS)
    assert len(body["users"]) == 5
    assert body["pagination"] == {"total_items": 20, "total_pages": 4, "current_page": 2, "items_per_page": 5}
    links = body["links"]
    assert set(links) == {"first_page", "next_page", "previous_page", "last_page"}
    assert links["next_page"] == {
        "href": "/v2/users?page=3&items_per_page=5&created_from=2000-01-01T00%3A00%3A00Z",
        "rel": "user",
        "type": "GET",
    }
    assert "page=1&" in links["first_page"]["href"] and "page=4&" in links["last_page"]["href"]


def test_users_following_next_page_reads_every_user_once_and_stops(api, emu):
    body, seen = api.json("/v2/users", items_per_page=7, **ALL_USERS), []
    while True:
        seen += [user["id"] for user in body["users"]]
        if "next_page" not in body["links"]:
            break
        body = api.follow(body, ("links", "next_page", "href"))
    assert sorted(seen) == sorted(emu.data.users)
    assert body["pagination"]["current_page"] == body["pagination"]["total_pages"] == 3


def test_users_are_sorted_by_created_time_by_default_and_on_request(api):
    ascending = api.json("/v2/users", items_per_page=50, **ALL_USERS)["users"]
    assert [u["created_time"] for u in ascending] == sorted(u["created_time"] for u in ascending)
    by_update = api.json("/v2/users", items_per_page=50, sort_by="updated_time", sort_order="desc", **ALL_USERS)
    by_update = by_update["users"]
    assert [u["updated_time"] for u in by_update] == sorted((u["updated_time"] for u in by_update), reverse=True)


def test_users_without_a_filter_are_rejected(api):
    response = api.get("/v2/users", items_per_page=50)
    assert response.status_code == 400
    assert response.json()["code"] == 400 and response.json()["status"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "bad",
    [
        {"created_from": "yesterday"},
        {"sort_order": "up", **ALL_USERS},
        {"sort_by": "email", **ALL_USERS},
        {"page": "0", **ALL_USERS},
        {"items_per_page": "ten", **ALL_USERS},
    ],
)
def test_users_bad_parameters_are_rejected(api, bad):
    assert api.get("/v2/users", **bad).status_code == 400


def test_users_filters_by_created_range_email_and_reference_id(api, emu):
    users = sorted(emu.data.users.values(), key=lambda user: user["created_time"])
    middle = users[10]["created_time"]
    after = api.json("/v2/users", items_per_page=50, created_from=middle)["users"]
    assert [u["id"] for u in after] == [u["id"] for u in users[10:]]
    # Query timestamps parse leniently: no fraction, explicit offset.
    before = api.json("/v2/users", items_per_page=50, created_to=middle[:19] + "+00:00")["users"]
    assert all(u["created_time"] < middle for u in before) and len(before) == 10
    with_email = next(u for u in users if "email" in u)
    assert [u["id"] for u in api.json("/v2/users", email=with_email["email"].upper())["users"]] == [with_email["id"]]
    with_reference = next(u for u in users if "reference_id" in u)
    found = api.json("/v2/users", reference_id=with_reference["reference_id"])["users"]
    assert [u["id"] for u in found] == [with_reference["id"]]


def test_users_updated_from_filters_only_when_the_behaviour_says_so(api, emu):
    cursor = emu.data.now()
    changed = emu.data.update_user(first_user_id(emu), first_name="Changed")
    assert changed["updated_time"] > cursor
    filtered = api.json("/v2/users", updated_from=cursor, items_per_page=50)
    assert [u["id"] for u in filtered["users"]] == [changed["id"]]

    emu.behaviour.users_filter_updated_from = False
    ignored = api.json("/v2/users", updated_from=cursor, items_per_page=50)  # still counts as a filter
    assert ignored["pagination"]["total_items"] == 20


def test_users_have_realistic_optional_fields(emu):
    users = list(emu.data.users.values())
    assert any("phone" not in user for user in users) and any("phone" in user for user in users)
    for user in users:
        assert user["created_time"] <= user["updated_time"]
        assert user["org_contact_id"].isdigit()


# -- paging rules ---------------------------------------------------------------------------
def test_default_page_size_is_ten(api):
    body = api.json("/v2/users", **ALL_USERS)
    assert len(body["users"]) == 10 and body["pagination"]["items_per_page"] == 10


def test_over_max_page_size_is_clamped_or_rejected(api, emu):
    clamped = api.json("/v2/agents", items_per_page=100)
    assert len(clamped["agents"]) == 50 and clamped["pagination"]["items_per_page"] == 50
    assert "items_per_page=50" in clamped["links"]["next_page"]["href"]
    emu.behaviour.over_max_page_size = "reject"
    assert api.get("/v2/agents", items_per_page=100).status_code == 400
    assert api.get(f"/v2/conversations/{first_conversation_id(emu)}/messages", items_per_page=51).status_code == 400


def test_page_past_end_is_empty_or_404(api, emu):
    empty = api.json("/v2/agents", page=9, items_per_page=50)
    assert empty["agents"] == [] and "next_page" not in empty["links"]
    emu.behaviour.page_past_end = "404"
    response = api.get("/v2/agents", page=3, items_per_page=50)
    assert response.status_code == 404 and response.json()["status"] == "WRONG_PAGE"
    assert api.get("/v2/agents", page=2, items_per_page=50).status_code == 200


def test_invalid_behaviour_values_fail_fast():
    with pytest.raises(ValueError):
        Behaviour(page_past_end="sometimes")


# -- directory lists ------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["agents", "groups", "channels", "roles"])
def test_directory_lists_share_the_envelope(api, emu, key):
    body = api.json(f"/v2/{key}", items_per_page=50)
    expected = getattr(emu.data, key)
    assert body[key] == expected[:50]
    assert body["pagination"]["total_items"] == len(expected)
    assert body["links"]["first_page"]["href"].startswith(f"/v2/{key}?page=1")


def test_agents_span_two_full_size_pages(api, emu):
    first = api.json("/v2/agents", items_per_page=50)
    second = api.follow(first, ("links", "next_page", "href"))
    assert len(first["agents"]) == 50 and "next_page" not in second["links"]
    assert [a["id"] for a in first["agents"] + second["agents"]] == [a["id"] for a in emu.data.agents]


def test_agents_filters(api, emu):
    deactivated = api.json("/v2/agents", is_deactivated="true", items_per_page=50)["agents"]
    assert deactivated and all(agent["is_deactivated"] for agent in deactivated)
    group_id = emu.data.groups[0]["id"]
    members = api.json("/v2/agents", groups=group_id, items_per_page=50)["agents"]
    assert sorted(a["id"] for a in members) == sorted(emu.data.groups[0]["agents"])


# -- conversations --------------------------------------------------------------------------
def test_user_conversations_lists_ids_and_unknown_users_404(api, emu):
    user_id = first_user_id(emu)
    listing = api.json(f"/v2/users/{user_id}/conversations")
    assert listing == {"conversations": [{"id": cid} for cid in emu.data.user_conversations[user_id]]}
    response = api.get("/v2/users/no-such-user/conversations")
    assert response.status_code == 404 and response.json()["status"] == "USER_NOT_FOUND"


def test_some_conversations_are_listed_under_two_users(emu):
    listed = [cid for ids in emu.data.user_conversations.values() for cid in ids]
    duplicated = {cid for cid in listed if listed.count(cid) > 1}
    assert duplicated and len(set(listed)) == len(emu.data.conversations) == 40


def test_conversation_detail_and_404(api, emu):
    conversation_id = first_conversation_id(emu)
    detail = api.json(f"/v2/conversations/{conversation_id}")
    assert detail == emu.data.conversations[conversation_id]
    assert {
        "conversation_id",
        "conversation_internal_id",
        "app_id",
        "status",
        "channel_id",
        "properties",
        "url",
        "created_time",
        "updated_time",
        "user_id",
    } <= detail.keys()
    response = api.get("/v2/conversations/no-such-id")
    assert response.status_code == 404 and response.json()["status"] == "CONVERSATION_NOT_FOUND"


def test_conversation_fields_are_a_bare_array_matching_conversation_properties(api, emu):
    fields = api.json("/v2/conversations/fields")
    assert isinstance(fields, list)
    by_column = {field["column_name"]: field for field in fields}
    assert {"DROPDOWN", "MULTI_SELECT_DROPDOWN"} <= {field["type"] for field in fields}
    for conversation in emu.data.conversations.values():
        for column, value in conversation["properties"].items():
            choice_ids = {choice["id"] for choice in by_column[column]["choices"]}
            if by_column[column]["type"] == "DROPDOWN":
                assert value in choice_ids
            if by_column[column]["type"] == "MULTI_SELECT_DROPDOWN":
                assert set(value) <= choice_ids


# -- messages -------------------------------------------------------------------------------
def test_messages_newest_first_with_link_until_the_last_page(api, emu):
    conversation_id = first_conversation_id(emu)
    first = api.json(f"/v2/conversations/{conversation_id}/messages", items_per_page=3)
    assert set(first) == {"messages", "link"} and first["link"]["rel"] == "next"
    assert first["link"]["href"] == f"/v2/conversations/{conversation_id}/messages?page=2&items_per_page=3"
    pages = [first]
    while "link" in pages[-1]:
        pages.append(api.follow(pages[-1], ("link", "href")))
    served = [message for page in pages for message in page["messages"]]
    assert len(pages) == 3 and served == emu.data.messages[conversation_id][::-1]
    times = [message["created_time"] for message in served]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)


def test_messages_from_time_is_an_inclusive_upper_bound_carried_by_the_link(api, emu):
    conversation_id = first_conversation_id(emu)
    thread = emu.data.messages[conversation_id]
    from_time = thread[4]["created_time"]
    first = api.json(f"/v2/conversations/{conversation_id}/messages", items_per_page=2, from_time=from_time)
    assert [m["id"] for m in first["messages"]] == [thread[4]["id"], thread[3]["id"]]
    assert "from_time=" in first["link"]["href"]
    rest = api.follow(first, ("link", "href"))
    assert [m["id"] for m in rest["messages"]] == [thread[2]["id"], thread[1]["id"]]


def test_messages_of_an_unknown_conversation_404(api):
    assert api.get("/v2/conversations/no-such-id/messages").status_code == 404


def test_messages_cover_every_part_kind_actor_and_type(emu):
    messages = emu.data.records("messages")
    assert {next(iter(part)) for m in messages for part in m["message_parts"]} == set(PART_KINDS)
    assert {m["actor_type"] for m in messages} == set(ACTOR_TYPES)
    assert {m["message_type"] for m in messages} == {"normal", "private", "system"}
    assert {type(m["meta_data"]) for m in messages if "meta_data" in m} == {dict, str}
    assert any("in_reply_to" in m for m in messages)
    for conversation_id, thread in emu.data.messages.items():
        conversation = emu.data.conversations[conversation_id]
        times = [m["created_time"] for m in thread]
        assert times == sorted(set(times)) and times[0] >= conversation["created_time"]
        for message in thread:
            assert message["conversation_id"] == conversation_id
            internal_id, epoch_ms = message["interaction_id"].split("-")
            assert int(internal_id) == conversation["conversation_internal_id"] and epoch_ms.isdigit()


# -- outbound messages ----------------------------------------------------------------------
def test_outbound_messages_list_and_request_id_lookup(api, emu):
    listed = api.json("/v2/outbound-messages", items_per_page=50)["outbound_messages"]
    assert listed == emu.data.outbound_messages
    assert {m["status"] for m in listed} == {"ACCEPTED", "IN_PROGRESS", "SENT", "DELIVERED", "READ", "FAILED"}
    assert all(isinstance(m["created_on"], int) for m in listed)
    request_id = listed[0]["request_id"]
    found = api.json("/v2/outbound-messages", request_id=request_id)["outbound_messages"]
    assert found == [m for m in listed if m["request_id"] == request_id]


@pytest.mark.parametrize("refusal, status", [("refuse_400", 400), ("refuse_404", 404)])
def test_outbound_messages_list_can_be_refused_but_lookups_still_work(api, emu, refusal, status):
    emu.behaviour.outbound_list = refusal
    assert api.get("/v2/outbound-messages").status_code == status
    request_id = emu.data.outbound_messages[0]["request_id"]
    assert api.json("/v2/outbound-messages", request_id=request_id)["outbound_messages"]


# -- auth, unknown paths, wrong host --------------------------------------------------------
@pytest.mark.parametrize("token", [None, "wrong-key"])
def test_missing_or_wrong_token_is_401(emu, token):
    response = Api(emu, token=token).get("/v2/agents")
    assert response.status_code == 401 and response.json()["status"] == "UNAUTHORIZED"


def test_forbidden_key_is_403_auth_failure(emu):
    emu.behaviour.forbidden_keys = {API_KEY}
    response = Api(emu).get("/v2/accounts/configuration")
    assert response.status_code == 403
    assert response.json() == {"code": 403, "status": "FORBIDDEN", "message": "Auth failure"}


def test_unknown_path_is_a_json_404_counted_by_its_path(api, emu):
    response = api.get("/v2/tickets")
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/json"
    assert emu.request_counts["GET /v2/tickets"] == 1


def test_html_everywhere_answers_a_login_page_even_without_auth(emu):
    emu.behaviour.html_everywhere = True
    for token in (API_KEY, None):
        response = Api(emu, token=token).get("/v2/accounts/configuration")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
        assert b"<html" in response.content


# -- rate limit -----------------------------------------------------------------------------
def test_rate_limit_headers_count_down_without_a_limit(api):
    headers = [api.get("/v2/roles").headers for _ in range(3)]
    assert [h["X-RateLimit-Limit"] for h in headers] == ["100000"] * 3
    assert [int(h["X-RateLimit-Remaining"]) for h in headers] == [99999, 99998, 99997]
    assert int(headers[0]["X-RateLimit-Reset"]) > time.time()


@pytest.mark.parametrize("retry_after", [True, False])
def test_rate_limit_answers_429_when_the_window_is_spent(api, emu, retry_after):
    emu.behaviour.rate_limit, emu.behaviour.retry_after = 2, retry_after
    responses = [api.get("/v2/roles") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert responses[2].json()["status"] == "TOO_MANY_REQUESTS"
    assert ("Retry-After" in responses[2].headers) is retry_after
    if retry_after:
        assert 1 <= int(responses[2].headers["Retry-After"]) <= 60


# -- scripted faults ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 401, 403, 404])
def test_injected_error_statuses_then_normal_service(api, emu, status):
    emu.inject("GET /v2/roles", [status])
    failed, recovered = api.get("/v2/roles"), api.get("/v2/roles")
    assert failed.status_code == status and failed.json()["code"] == status
    assert recovered.status_code == 200


def test_injected_429_announces_a_short_wait(api, emu):
    emu.behaviour.injected_retry_after_seconds = 0
    emu.inject("GET /v2/roles", [429])
    response = api.get("/v2/roles")
    assert response.status_code == 429 and response.headers["Retry-After"] == "0"
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_injected_faults_are_consumed_in_order_route_before_star(api, emu):
    emu.inject("*", [503])
    emu.inject("GET /v2/roles", [500, 502])
    statuses = [api.get("/v2/roles").status_code for _ in range(4)]
    assert statuses == [500, 502, 503, 200]


def test_inject_rejects_unknown_routes_and_faults(emu):
    with pytest.raises(ValueError):
        emu.inject("GET /v2/role", [500])
    with pytest.raises(ValueError):
        emu.inject("GET /v2/roles", ["boom"])


def test_injected_html_page(api, emu):
    emu.inject("GET /v2/roles", ["html"])
    response = api.get("/v2/roles")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")


def test_injected_truncated_body_is_half_a_json_document(api, emu):
    whole = api.get("/v2/roles").content
    emu.inject("GET /v2/roles", ["truncated"])
    response = api.get("/v2/roles")
    assert response.status_code == 200 and response.content == whole[: len(whole) // 2]
    with pytest.raises(ValueError):
        response.json()
    assert api.get("/v2/roles").content == whole  # the keep-alive connection stayed usable


def test_injected_reset_closes_the_connection_without_answer(api, emu):
    emu.inject("GET /v2/roles", ["reset"])
    with pytest.raises(requests.ConnectionError):
        api.get("/v2/roles")
    assert api.get("/v2/roles").status_code == 200
    assert emu.request_log[0][3] is None and sum(emu.status_counts.values()) == 1


def test_injected_hang_delays_then_answers_normally(api, emu):
    emu.behaviour.hang_seconds = 0.5
    emu.inject("GET /v2/roles", ["hang", "hang"])
    with pytest.raises(requests.Timeout):
        api.get("/v2/roles", timeout=0.05)
    assert api.get("/v2/roles").json()["roles"] == emu.data.roles


def test_injected_empty_200(api, emu):
    emu.inject("GET /v2/roles", ["empty_200"])
    response = api.get("/v2/roles")
    assert response.status_code == 200 and response.content == b"" and response.headers["Content-Length"] == "0"


@pytest.mark.parametrize("path, key", [("/v2/roles", "roles"), ("/v2/accounts/configuration", "account_id")])
def test_injected_wrong_shape_lacks_the_envelope_key(api, emu, path, key):
    emu.inject("GET " + path, ["wrong_shape"])
    body = api.json(path)
    assert key not in body and body["data"]


# -- random faults --------------------------------------------------------------------------
def served_statuses(behaviour: Behaviour, count: int) -> list:
    with FreshchatEmulator(seed=3, users=2, behaviour=behaviour) as emulator:
        client = Api(emulator)
        return [client.get("/v2/roles").status_code for _ in range(count)]


def test_random_errors_are_reproducible_from_the_seed():
    first = served_statuses(Behaviour(error_rate=0.5), 30)
    assert first == served_statuses(Behaviour(error_rate=0.5), 30)
    assert set(first) > {200} and set(first) <= {200, 500, 502, 503}


@pytest.mark.parametrize(
    "rate_field, check",
    [
        ("html_rate", lambda r: r.headers["Content-Type"].startswith("text/html")),
        ("truncated_rate", lambda r: r.headers["Content-Type"] == "application/json" and not r.content.endswith(b"}")),
    ],
)
def test_random_body_faults(api, emu, rate_field, check):
    setattr(emu.behaviour, rate_field, 1.0)
    assert check(api.get("/v2/roles"))


def test_random_resets_and_hangs(api, emu):
    emu.behaviour.reset_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        api.get("/v2/roles")
    emu.behaviour.reset_rate, emu.behaviour.hang_rate, emu.behaviour.hang_seconds = 0.0, 1.0, 0.5
    with pytest.raises(requests.Timeout):
        api.get("/v2/roles", timeout=0.05)


def test_latency_still_answers_normally(api, emu):
    emu.behaviour.latency_ms = 5
    assert api.get("/v2/roles").status_code == 200


# -- determinism ----------------------------------------------------------------------------
def snapshot(emulator: FreshchatEmulator) -> list:
    client = Api(emulator)
    user_id = next(iter(emulator.data.users))
    conversation_id = emulator.data.user_conversations[user_id][0]
    paths = [
        "/v2/accounts/configuration",
        "/v2/users?created_from=2000-01-01&items_per_page=50",
        f"/v2/users/{user_id}/conversations",
        f"/v2/conversations/{conversation_id}",
        f"/v2/conversations/{conversation_id}/messages",
        "/v2/conversations/fields",
        "/v2/agents",
        "/v2/groups",
        "/v2/channels",
        "/v2/roles",
        "/v2/outbound-messages",
    ]
    return [client.session.get(emulator.url + path).content for path in paths]


def test_same_seed_serves_identical_bytes_and_another_seed_differs():
    with FreshchatEmulator(seed=11) as one, FreshchatEmulator(seed=11) as two, FreshchatEmulator(seed=12) as other:
        assert snapshot(one) == snapshot(two)
        assert snapshot(one)[0] != snapshot(other)[0]


def test_dataset_records_cover_every_stream(emu):
    counts = {name: len(emu.data.records(name)) for name in STREAM_NAMES}
    assert counts["account"] == 1 and counts["users"] == 20 and counts["conversations"] == 40
    assert counts["messages"] == 280 and counts["agents"] == 57
    assert all(counts.values())
    with pytest.raises(KeyError):
        emu.data.records("tickets")


def test_now_is_after_every_timestamp_and_moves_forward():
    data = Dataset(seed=5, users=5, messages_per_conversation=200)
    latest = max(m["created_time"] for thread in data.messages.values() for m in thread)
    first, second = data.now(), data.now()
    assert latest < first < second


# -- mutations ------------------------------------------------------------------------------
def test_added_and_deleted_users(api, emu):
    added = emu.data.add_user(email="new@mail.example")
    assert added["created_time"] == added["updated_time"]
    assert [u["id"] for u in api.json("/v2/users", email="new@mail.example")["users"]] == [added["id"]]
    assert api.json(f"/v2/users/{added['id']}/conversations") == {"conversations": []}
    emu.data.delete_user(added["id"])
    assert api.get(f"/v2/users/{added['id']}/conversations").status_code == 404


def test_added_and_updated_conversations_are_served_with_later_timestamps(api, emu):
    user_id = first_user_id(emu)
    added = emu.data.add_conversation(user_id, status="new")
    assert {"id": added["conversation_id"]} in api.json(f"/v2/users/{user_id}/conversations")["conversations"]
    updated = emu.data.update_conversation(added["conversation_id"], status="resolved")
    served = api.json(f"/v2/conversations/{added['conversation_id']}")
    assert served["status"] == "resolved" and served["updated_time"] == updated["updated_time"] > added["created_time"]


@pytest.mark.parametrize("keep_in_listing", [True, False])
def test_deleted_conversation_404s_and_optionally_stays_listed(api, emu, keep_in_listing):
    user_id = first_user_id(emu)
    conversation_id = emu.data.user_conversations[user_id][0]
    emu.data.delete_conversation(conversation_id, keep_in_listing=keep_in_listing)
    listed = {c["id"] for c in api.json(f"/v2/users/{user_id}/conversations")["conversations"]}
    assert (conversation_id in listed) is keep_in_listing
    assert api.get(f"/v2/conversations/{conversation_id}").status_code == 404
    assert api.get(f"/v2/conversations/{conversation_id}/messages").status_code == 404


@pytest.mark.parametrize("bumps", [True, False])
def test_added_message_is_newest_and_bumps_the_conversation_per_behaviour(api, emu, bumps):
    emu.behaviour.message_bumps_conversation = bumps
    conversation_id = first_conversation_id(emu)
    before = dict(emu.data.conversations[conversation_id])
    message = emu.data.add_message(conversation_id, message_parts=[{"text": {"content": "late"}}])
    newest = api.json(f"/v2/conversations/{conversation_id}/messages")["messages"][0]
    assert newest == message and message["created_time"] > before["updated_time"]
    served = api.json(f"/v2/conversations/{conversation_id}")
    assert (served["updated_time"] == message["created_time"]) is bumps
    assert (served["updated_time"] == before["updated_time"]) is not bumps


# -- counters and callbacks -----------------------------------------------------------------
def test_request_counts_status_counts_and_log(api, emu):
    conversation_id = first_conversation_id(emu)
    api.get(f"/v2/conversations/{conversation_id}")
    api.get(f"/v2/conversations/{conversation_id}/messages", items_per_page=50)
    api.get("/v2/conversations/missing")
    assert emu.request_counts == {"GET /v2/conversations/{id}": 2, "GET /v2/conversations/{id}/messages": 1}
    assert emu.status_counts == {200: 2, 404: 1}
    method, path, query, status, headers = emu.request_log[1]
    assert (method, path, status) == ("GET", f"/v2/conversations/{conversation_id}/messages", 200)
    assert query == {"items_per_page": "50"}
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    emu.reset_counters()
    assert not emu.request_counts and not emu.status_counts and not emu.request_log


def test_on_request_callbacks_can_mutate_data_between_pages(api, emu):
    seen, added = [], []
    emu.on_request(lambda route, path, query: seen.append((route, path, query.get("page"))))

    def add_user_before_page_two(route, path, query):
        if route == "GET /v2/users" and query.get("page") == "2":
            added.append(emu.data.add_user())

    emu.on_request(add_user_before_page_two)
    first = api.json("/v2/users", items_per_page=10, **ALL_USERS)
    second = api.follow(first, ("links", "next_page", "href"))
    assert first["pagination"]["total_pages"] == 2 and second["pagination"]["total_pages"] == 3
    third = api.follow(second, ("links", "next_page", "href"))  # the newest user sorts last
    assert [user["id"] for user in third["users"]] == [added[0]["id"]]
    assert seen == [("GET /v2/users", "/v2/users", None), ("GET /v2/users", "/v2/users", "2"), ("GET /v2/users", "/v2/users", "3")]
    emu.clear_callbacks()
    api.get("/v2/roles")
    assert len(seen) == 3


def test_config_points_at_the_emulator(emu):
    assert emu.config() == {"domain": emu.url, "api_key": API_KEY}
    assert emu.config(start_date="2024-01-01T00:00:00Z")["start_date"] == "2024-01-01T00:00:00Z"
    assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith("/")


def test_responses_keep_the_connection_alive_until_stop():
    emulator = FreshchatEmulator(users=2).start()
    client = Api(emulator)
    response = client.get("/v2/roles")
    assert response.raw.version == 11 and response.headers.get("Connection") != "close"
    emulator.stop()
    with pytest.raises(requests.ConnectionError):
        client.session.get(response.url, timeout=5)


def test_cli_prints_a_ready_config_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "integration_tests.emulator", "--port", "0", "--users", "3", "--api-key", "cli-key"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        config = json.loads(line[line.index("{") :])
        response = requests.get(config["domain"] + "/v2/accounts/configuration", headers={"Authorization": "Bearer cli-key"}, timeout=5)
        assert config["api_key"] == "cli-key" and response.status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
