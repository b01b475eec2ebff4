"""Downloads from the storage host: no credentials, https only, redirects checked, link queries kept out of the logs,
and retries of what may succeed a second time."""

import http.server
import io
import logging
import threading
from typing import List, Optional

import pytest
import requests

from source_freshchat.extract import ReportError
from source_freshchat.extract.download import StorageClient, check_download_url

from ..conftest import CONFIG
from .conftest import END, REPORTS, SIGNED, START, STORAGE, TRANSCRIPT, client, completed, csv_bytes


def test_downloads_carry_no_credentials(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}", f"{STORAGE}/b.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT))
    requests_mock.get(f"{STORAGE}/b.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    list(extract.rows(extract.want("Chat-Transcript", START, END)))
    downloads = [r for r in requests_mock.request_history if r.hostname == "exports.storage.example"]
    assert len(downloads) == 2
    for request in downloads:
        assert "Authorization" not in request.headers and "Cookie" not in request.headers
    api_calls = [r for r in requests_mock.request_history if r.hostname == "acme.freshchat.com"]
    assert all(r.headers["Authorization"] == f"Bearer {CONFIG['api_key']}" for r in api_calls)


class CookieSettingStorage(http.server.BaseHTTPRequestHandler):
    """A storage host on loopback that sets a load-balancer cookie on every answer and keeps each request's Cookie header.

    A real server, because requests_mock never puts a response's cookies into the session's jar.
    """

    cookies_sent: List[Optional[str]] = []

    def do_GET(self):
        self.cookies_sent.append(self.headers.get("Cookie"))
        body = csv_bytes(TRANSCRIPT)
        self.send_response(200)
        self.send_header("Set-Cookie", "AWSALB=abc; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_cookie_the_storage_host_sets_is_never_sent_back():
    CookieSettingStorage.cookies_sent = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CookieSettingStorage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        storage = StorageClient(sleep=lambda seconds: None)
        for part in ("a", "b"):
            storage.download(f"http://127.0.0.1:{server.server_port}/{part}.csv?{SIGNED}", f"part {part}").close()
    finally:
        server.shutdown()
        server.server_close()
    assert CookieSettingStorage.cookies_sent == [None, None]


def test_a_redirect_to_plain_http_is_refused_and_the_link_query_never_shows(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", status_code=302, headers={"Location": f"http://mirror.example/a.csv?{SIGNED}"})
    extract = client(clock)
    with caplog.at_level(logging.DEBUG), pytest.raises(ReportError) as raised:
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert "http://mirror.example/a.csv" in raised.value.message and "not https" in raised.value.message
    ours = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("requests_mock")
    )  # the mock's own debug log
    assert "deadbeefsecret" not in raised.value.message and "deadbeefsecret" not in ours
    assert not [r for r in requests_mock.request_history if r.hostname == "mirror.example"]


@pytest.mark.parametrize("url", ["http://storage.example/a.csv", "ftp://127.0.0.1/a.csv", "file:///etc/passwd", "https:///a.csv"])
def test_only_https_links_or_loopback_http_are_downloaded(url):
    with pytest.raises(ReportError):
        check_download_url(url)


@pytest.mark.parametrize("url", ["https://storage.example/a.csv?x=1", "http://127.0.0.1:9000/a.csv", "http://localhost/a.csv"])
def test_https_and_loopback_links_are_accepted(url):
    check_download_url(url)


def test_urllib3_request_lines_lose_their_query_in_the_logs(caplog):
    pool_logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        pool_logger.debug('%s://%s:%s "%s %s %s" %s %s', "https", "storage.example", 443, "GET", f"/a.csv?{SIGNED}", "HTTP/1.1", 200, 10)
    assert caplog.records[0].getMessage() == 'https://storage.example:443 "GET /a.csv HTTP/1.1" 200 10'


def test_a_cut_off_download_is_retried(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    body = csv_bytes(TRANSCRIPT)
    requests_mock.get(
        f"{STORAGE}/a.csv",
        [
            {"content": body[:20], "headers": {"Content-Length": str(len(body))}},
            {"status_code": 500},  # the smallest server error
            {"status_code": 429},
            {"content": body},
        ],
    )
    extract = client(clock)
    assert len(list(extract.rows(extract.want("Chat-Transcript", START, END)))) == 2


def test_downloads_are_tried_four_times_then_fail_without_the_link_query(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", status_code=503)
    extract = client(clock)
    with pytest.raises(ReportError, match=r"after 4 attempts: HTTP 503") as raised:
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert len([r for r in requests_mock.request_history if r.hostname == "exports.storage.example"]) == 4
    assert [s for s in clock.sleeps if s >= 1][-3:] == [1.0, 2.0, 4.0]  # waits between the attempts, doubling
    assert "deadbeefsecret" not in raised.value.message


def test_requests_carry_timeouts(requests_mock, clock, mocker):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    sends = [mocker.spy(extract._api._session, "send"), mocker.spy(extract._storage._session, "send")]  # these instances only
    list(extract.rows(extract.want("Chat-Transcript", START, END)))
    timeouts = {call.args[0].url.split("?")[0]: call.kwargs["timeout"] for send in sends for call in send.call_args_list}
    assert timeouts[REPORTS] == (10, 60) and timeouts[f"{STORAGE}/a.csv"] == (10, 300)
    [download] = [call for call in sends[1].call_args_list]
    assert download.kwargs["stream"] is True  # a report is written to disk as it arrives, never held whole in memory


def test_downloads_ignore_netrc_credentials(requests_mock, clock, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine exports.storage.example login someone password secret-from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    list(extract.rows(extract.want("Chat-Transcript", START, END)))
    download = next(r for r in requests_mock.request_history if r.hostname == "exports.storage.example")
    assert "Authorization" not in download.headers


@pytest.mark.parametrize("hops,follows", [(5, True), (6, False)])
def test_https_redirects_are_followed_five_times_at_most(requests_mock, clock, hops, follows):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/hop0.csv?{SIGNED}"))
    for hop in range(hops):
        requests_mock.get(f"{STORAGE}/hop{hop}.csv", status_code=302, headers={"Location": f"/hop{hop + 1}.csv?{SIGNED}"})
    requests_mock.get(f"{STORAGE}/hop{hops}.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    job = extract.want("Chat-Transcript", START, END)
    if follows:
        assert len(list(extract.rows(job))) == 2
    else:
        with pytest.raises(ReportError, match="redirected more than 5 times") as raised:
            list(extract.rows(job))
        assert "deadbeefsecret" not in raised.value.message


def test_a_download_cut_by_a_connection_error_is_retried_and_the_retry_logged(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", [{"exc": requests.exceptions.ConnectionError}, {"content": csv_bytes(TRANSCRIPT)}])
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert len(list(extract.rows(extract.want("Chat-Transcript", START, END)))) == 2
    assert any(
        message.startswith("Downloading part 1 of 1 of the Chat-Transcript report")
        and "failed (ConnectionError); retrying in 1s" in message
        for message in caplog.messages
    )


def test_a_storage_host_that_answers_404_fails_the_report_instead_of_reading_its_error_page(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", status_code=404, text="conversation_id,created_at\nnot,a-row\n")
    extract = client(clock)
    with pytest.raises(
        ReportError, match=r"The storage host answered HTTP 404 for part 1 of 1 .*exports.storage.example/a.csv\)"
    ) as raised:
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert "deadbeefsecret" not in raised.value.message


class BrokenStream(io.BytesIO):
    """A body that breaks off mid-transfer, as a dropped connection does."""

    def read(self, *args, **kwargs):
        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")


def test_a_download_broken_off_mid_transfer_is_retried(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", [{"body": BrokenStream()}, {"content": csv_bytes(TRANSCRIPT)}])
    extract = client(clock)
    assert len(list(extract.rows(extract.want("Chat-Transcript", START, END)))) == 2


def test_a_status_below_500_other_than_429_fails_the_report_at_once(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    download = requests_mock.get(f"{STORAGE}/a.csv", status_code=499)
    extract = client(clock)
    with pytest.raises(ReportError, match="The storage host answered HTTP 499"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert download.call_count == 1


def test_each_download_is_logged_with_its_size_and_the_link_without_its_query(requests_mock, clock, caplog):
    body = csv_bytes(TRANSCRIPT)
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=body)
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    [line] = [message for message in caplog.messages if message.startswith("Downloaded ")]
    assert line.endswith(f": {len(body)} bytes from {STORAGE}/a.csv") and "part 1 of 1" in line
