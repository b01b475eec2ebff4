"""The shared HTTP base: request parameters and where a next-page link may lead."""

from source_freshchat.config import parse_settings
from source_freshchat.streams.account import Account

from .conftest import API, CONFIG, envelope, run_read


def test_a_stream_without_paging_parameters_sends_none_and_a_next_page_sends_its_links_query():
    account = Account(parse_settings(CONFIG))
    assert account.request_params(stream_state=None) == {}
    assert account.request_params(stream_state={}, next_page_token={"path": "/v2/x", "query": {"page": "2"}}) == {"page": "2"}


def test_a_scheme_relative_link_to_another_host_is_refused(requests_mock):
    requests_mock.get(f"{API}/agents", json=envelope("agents", [{"id": "1"}], next_href="//evil.example.com/v2/agents?page=2"))
    output = run_read(["agents"])
    assert requests_mock.call_count == 1
    assert "links its next page to another host" in output.errors[0].trace.error.message


def test_a_next_page_is_requested_at_the_path_its_link_names(requests_mock):
    first_page = envelope("agents", [{"id": "1"}], next_href="/v2/agents/archive?page=2")
    requests_mock.get(f"{API}/agents", [{"json": first_page}, {"json": envelope("agents", [])}])
    archive = requests_mock.get(f"{API}/agents/archive", json=envelope("agents", [{"id": "2"}]))
    output = run_read(["agents"])
    assert [record.record.data["id"] for record in output.records] == ["1", "2"]
    assert archive.call_count == 1
