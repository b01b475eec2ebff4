"""The HTTP base of the REST streams: request parameters, paging and where a next-page link may lead, ids in paths, the session."""

import http.server
import re
import threading

import pytest
import requests.sessions

from source_freshchat.config import parse_settings
from source_freshchat.rate_limit import FreshchatAPIBudget
from source_freshchat.streams.account import Account
from source_freshchat.streams.directory import Agents
from source_freshchat.sync import Sync

from .conftest import (
    API,
    CONFIG,
    envelope,
    mock_account_tree,
    records_of,
    run_read,
)


def test_a_stream_without_paging_parameters_sends_none_and_a_next_page_sends_its_links_query():
    account = Account(Sync(parse_settings(CONFIG)))
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


@pytest.mark.parametrize("origin", ["https://acme.freshchat.com", "http://127.0.0.1:8080"])
@pytest.mark.parametrize("num_workers", [4, 16, 32])
def test_the_sync_session_keeps_a_connection_for_every_request_in_flight(origin, num_workers):
    """The walk's workers and the user listing's thread: a smaller pool discards connections, each a new TLS handshake."""
    settings = parse_settings({**CONFIG, "domain": origin, "num_workers": num_workers})
    adapter = Sync(settings).session.get_adapter(settings.api_base)
    assert adapter._pool_maxsize >= num_workers + 1


class CountingConnections(http.server.BaseHTTPRequestHandler):
    """A loopback API that keeps connections alive and counts the ones it accepted."""

    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self):
        super().setup()
        type(self).connections += 1

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_the_sync_session_sends_its_requests_over_one_kept_connection():
    CountingConnections.connections = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingConnections)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{server.server_port}"
        session = Sync(parse_settings({**CONFIG, "domain": origin})).session
        for _ in range(3):
            assert session.get(f"{origin}/v2/agents", timeout=10).json() == {}
    finally:
        server.shutdown()
        server.server_close()
    assert CountingConnections.connections == 1


def test_the_environment_proxy_settings_are_read_once_per_sync_not_per_request(requests_mock, mocker):
    """requests re-reads proxies and CA settings from the environment per request unless told not to: a fifth of a sync's CPU."""

    def environment_reads_in_a_read_of(page_count: int) -> int:
        reads = mocker.spy(requests.sessions, "get_environ_proxies")
        pages = [{"json": envelope("agents", [{"id": str(n)}], next_href=f"/v2/agents?page={n + 1}")} for n in range(1, page_count)]
        requests_mock.get(f"{API}/agents", [*pages, {"json": envelope("agents", [{"id": str(page_count)}])}])
        assert len(run_read(["agents"]).records) == page_count
        mocker.stop(reads)
        return reads.call_count

    assert environment_reads_in_a_read_of(6) == environment_reads_in_a_read_of(1)


def test_the_progress_line_counts_the_rate_limit_waits_of_the_sync_budget():
    resources = Sync(parse_settings(CONFIG), FreshchatAPIBudget(None))
    assert "0 rate-limit waits (0.0s summed over workers)" in resources.progress.of("users").line()


def test_the_progress_line_of_a_read_counts_every_request_of_its_stream(requests_mock, mocker):
    mocker.patch("source_freshchat.progress.LOG_EVERY_SECONDS", 0.0)  # a line after every record
    pages = [{"json": envelope("agents", [{"id": str(n)}], next_href=f"/v2/agents?page={n + 1}")} for n in range(1, 3)]
    requests_mock.get(f"{API}/agents", [*pages, {"json": envelope("agents", [{"id": "3"}])}])
    lines = [m.log.message for m in run_read(["agents"]).logs if m.log.message.startswith("Progress of agents")]
    assert [re.search(r": (\d+) records.*?, (\d+) requests", line).groups() for line in lines] == [("1", "1"), ("2", "2"), ("3", "3")]


def test_a_list_is_estimated_from_its_first_pages_total_alone(requests_mock):
    """Later pages repeat the total, which can move while the list is read; only the first page's is sent, before any record."""
    first = {**envelope("agents", [{"id": "1"}], next_href="/v2/agents?page=2"), "pagination": {"total_items": 2, "current_page": 1}}
    second = {**envelope("agents", [{"id": "2"}]), "pagination": {"total_items": 40, "current_page": 2}}
    requests_mock.get(f"{API}/agents", [{"json": first}, {"json": second}])
    output = run_read(["agents"])
    estimates = [m.trace.estimate.row_estimate for m in output.trace_messages if m.trace.estimate]
    assert estimates == [2] and len(output.records) == 2


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


def test_ids_from_responses_cannot_step_out_of_their_path_segment(requests_mock):
    mock_account_tree(requests_mock, {"u1": []})
    requests_mock.get(f"{API}/users/u1/conversations", json={"conversations": [{"id": "../../accounts/configuration"}]})
    escaped = requests_mock.get(
        f"{API}/conversations/..%2F..%2Faccounts%2Fconfiguration", status_code=404, json={"code": 404, "status": "NOT_FOUND"}
    )
    account = requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "1"})
    run_read(["conversations"])
    assert escaped.call_count == 1 and account.call_count == 0


def test_proxy_settings_from_the_environment_still_apply(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    kwargs = Agents(Sync(parse_settings(CONFIG))).request_kwargs(stream_state={})
    assert kwargs["proxies"]["https"] == "http://proxy.example:3128"
    assert kwargs["verify"] == "/etc/ssl/corporate.pem"
