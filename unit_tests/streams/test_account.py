"""The account stream: one record, the credential probe."""

from ..conftest import API, CONFIG, records_of, run_read


def test_account_is_one_record(requests_mock):
    requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "42", "app_id": "app"})
    output = run_read(["account"])
    assert records_of(output, "account") == [{"account_id": "42", "app_id": "app"}]
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {CONFIG['api_key']}"
    assert requests_mock.last_request.headers["Accept"] == "application/json"
