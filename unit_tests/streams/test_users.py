"""The users stream: the filter that admits every user, and `updated_from` on incremental reads."""

from airbyte_cdk.models import SyncMode

from ..conftest import API, CONFIG, envelope, final_state, query_of, records_of, run_read, user

USERS_FIRST_PAGE = f"{API}/users?page=1&items_per_page=50&sort_order=asc&created_from=2000-01-01T00%3A00%3A00.000Z"


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
