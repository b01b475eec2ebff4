"""The Extract API client: job queue, polling, downloads, payloads and the security rules of report links."""

import csv
import io
import logging
import zipfile
from datetime import datetime, timedelta, timezone
from typing import List

import pytest
import requests

from source_freshchat.config import parse_settings
from source_freshchat.extract import ExtractClient, ReportError
from source_freshchat.extract.download import check_download_url
from source_freshchat.extract.payload import normalise_column, report_rows
from source_freshchat.extract.times import reach_floor, report_time

from .conftest import API, CONFIG

REPORTS = f"{API}/reports/raw"
STORAGE = "https://exports.storage.example"
SIGNED = "X-Amz-Credential=AKIA&X-Amz-Signature=deadbeefsecret"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)


class FakeClock:
    """Time that passes only when the client sleeps, so waits are counted, not spent."""

    def __init__(self) -> None:
        self.now = 100_000.0  # like a real monotonic clock, far from zero
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(clock: FakeClock, **config) -> ExtractClient:
    return ExtractClient(parse_settings({**CONFIG, **config}), clock=clock, sleep=clock.sleep)


def links(extract: ExtractClient, read) -> List:
    """Every link of a read, each piece waited for in turn."""
    return [link for piece in extract.pieces(read) for link in piece.links]


def csv_bytes(rows: List[List[str]], bom: bool = True) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode()


def zip_bytes(*files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, content in enumerate(files):
            archive.writestr(f"part-{index}.csv", content)
    return buffer.getvalue()


def completed(job_id: str, *urls: str) -> dict:
    links = [
        {"from": f"2026-11-{i + 1:02d}T00:00:00Z", "to": f"2026-11-{i + 2:02d}T00:00:00Z", "status": "COMPLETED", "link": {"href": u}}
        for i, u in enumerate(urls)
    ]
    return {"id": job_id, "status": "COMPLETED", "interval": "P1D", "links": links}


TRANSCRIPT = [
    ["Conversation ID", "Message ID", "Message Parts", "Created Time"],
    ["c1", "m1", '[{"text": {"content": "Hello, world\nsecond line"}}]', "2026-11-02 10:00:00"],
    ["c2", "m2", "", "2026-11-03T10:00:00.000Z"],
]


def test_a_job_is_created_polled_until_completed_and_its_zip_of_csv_files_read_row_by_row(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1", "link": {"rel": "extracts", "href": "/reports/raw/j1"}})
    requests_mock.get(
        f"{REPORTS}/j1",
        [
            {"json": {"id": "j1", "status": "PENDING"}},
            {"json": {"id": "j1", "status": "IN_PROGRESS"}},
            {"json": completed("j1", f"{STORAGE}/a.zip?{SIGNED}")},
        ],
    )
    requests_mock.get(
        f"{STORAGE}/a.zip", content=zip_bytes(csv_bytes(TRANSCRIPT[:2]), csv_bytes([TRANSCRIPT[0], TRANSCRIPT[2]], bom=False))
    )
    extract = client(clock)
    job = extract.want("Chat-Transcript", START, END)
    rows = list(extract.rows(job))
    assert rows == [
        {
            "conversation_id": "c1",
            "message_id": "m1",
            "message_parts": '[{"text": {"content": "Hello, world\nsecond line"}}]',
            "created_time": "2026-11-02 10:00:00",
        },
        {"conversation_id": "c2", "message_id": "m2", "message_parts": None, "created_time": "2026-11-03T10:00:00.000Z"},
    ]
    assert requests_mock.request_history[0].json() == {
        "start": "2026-11-01T00:00:00.000Z",
        "end": "2026-12-01T00:00:00.000Z",
        "event": "Chat-Transcript",
        "format": "csv",
    }
    assert clock.sleeps[0] == pytest.approx(2.0)  # the first poll after about 2 s, then growing
    assert clock.sleeps[1] > clock.sleeps[0]


def test_a_plain_csv_payload_is_read_too(requests_mock, clock):
    requests_mock.post(REPORTS, status_code=202, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    assert [row["message_id"] for row in extract.rows(extract.want("Chat-Transcript", START, END))] == ["m1", "m2"]


def test_every_wanted_job_is_created_before_the_first_one_is_waited_for(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j1", [{"json": {"status": "PENDING"}}, {"json": completed("j1")}])
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    first, second = extract.want("Conversation-Created", START, END), extract.want("CSAT-Score", START, END)
    links(extract, first)
    methods = [request.method for request in requests_mock.request_history]
    assert methods[:2] == ["POST", "POST"]
    assert second.pieces[0].job_id == "j2"


def test_consumers_of_one_event_share_one_job_that_covers_the_earliest_start(requests_mock, clock):
    extract = client(clock)
    job = extract.want("Message-Sent", START, END)
    assert extract.want("Message-Sent", START - timedelta(days=3), END) is job
    assert job.start == START - timedelta(days=3)


def test_a_429_on_creation_waits_as_told_and_logs_the_wait(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, [{"status_code": 429, "headers": {"Retry-After": "61"}, "json": {"code": 429}}, {"json": {"id": "j1"}}])
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        links(extract, extract.want("CSAT-Score", START, END))
    assert clock.sleeps[0] == pytest.approx(61)
    assert any("waiting 61s before creating the CSAT-Score report" in message for message in caplog.messages)


def test_a_failed_job_is_created_again_then_fails_naming_the_event_and_window(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json={"id": "j1", "status": "FAILED"})
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"), pytest.raises(ReportError) as raised:
        links(extract, extract.want("Resolution-Time", START, END))
    assert not [message for message in caplog.messages if message.startswith("Waiting for")]  # a failed job is not waited on
    assert len([message for message in caplog.messages if message.endswith("creating it again")]) == 2  # not after giving up
    assert requests_mock.call_count == 2 * 3  # three creations, each polled once: the README's documented limit
    assert "Resolution-Time report for 2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z" in raised.value.message
    assert not raised.value.refused


def test_a_job_that_never_completes_fails_after_the_configured_wait(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json={"id": "j1", "status": "IN_PROGRESS"})
    extract = client(clock, report_wait_minutes=5)
    with pytest.raises(ReportError) as raised:
        links(extract, extract.want("Response-Time", START, END))
    assert "did not finish the Response-Time report" in raised.value.message and "within 5 minutes" in raised.value.message
    assert 300 <= clock.now - 100_000 <= 300 + 30  # polled up to the bound, at most one 30 s interval past it
    assert max(clock.sleeps) <= 30


@pytest.mark.parametrize(
    "status,refused_text", [(400, "refused the Chat-Transcript report"), (403, "no Extract API"), (404, "no Extract API")]
)
def test_refusals_are_marked_refused(requests_mock, clock, status, refused_text):
    requests_mock.post(REPORTS, status_code=status, json={"code": status, "status": "BAD", "message": "Event not supported"})
    extract = client(clock)
    with pytest.raises(ReportError) as raised:
        links(extract, extract.want("Chat-Transcript", START, END))
    assert raised.value.refused and refused_text in raised.value.message


def test_an_expired_link_is_replaced_by_polling_the_job_again(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(
        f"{REPORTS}/j1",
        [
            {"json": completed("j1", f"{STORAGE}/old.csv?{SIGNED}")},
            {"json": {"id": "j1", "status": "IN_PROGRESS"}},  # fresh links take a moment
            {"json": completed("j1", f"{STORAGE}/new.csv?{SIGNED}")},
        ],
    )
    requests_mock.get(f"{STORAGE}/old.csv", status_code=403, text="<Error><Code>AccessDenied</Code></Error>")
    requests_mock.get(f"{STORAGE}/new.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock, report_wait_minutes=5)
    job = extract.want("Chat-Transcript", START, END)
    links(extract, job)
    clock.now += 3600  # the sync read other streams for an hour: fresh links get a wait bound of their own
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert len(list(extract.rows(job))) == 2
    assert any(message.startswith("The link to part 1 of the Chat-Transcript report") for message in caplog.messages)
    assert [r.url.split("?")[0] for r in requests_mock.request_history if r.hostname == "exports.storage.example"] == [
        f"{STORAGE}/old.csv",
        f"{STORAGE}/new.csv",
    ]


def test_downloads_carry_no_credentials_and_no_cookies(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}", f"{STORAGE}/b.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT), headers={"Set-Cookie": "session=abc; Path=/"})
    requests_mock.get(f"{STORAGE}/b.csv", content=csv_bytes(TRANSCRIPT))
    extract = client(clock)
    list(extract.rows(extract.want("Chat-Transcript", START, END)))
    downloads = [r for r in requests_mock.request_history if r.hostname == "exports.storage.example"]
    assert len(downloads) == 2
    for request in downloads:
        assert "Authorization" not in request.headers and "Cookie" not in request.headers
    api_calls = [r for r in requests_mock.request_history if r.hostname == "acme.freshchat.com"]
    assert all(r.headers["Authorization"] == f"Bearer {CONFIG['api_key']}" for r in api_calls)


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


def test_a_corrupt_archive_fails_loudly(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.zip?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.zip", content=b"PK\x03\x04" + b"\x00" * 40)
    extract = client(clock)
    with pytest.raises(ReportError, match="Could not read part 1 of the Chat-Transcript report"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))


def test_csv_fields_with_commas_quotes_newlines_and_json_round_trip():
    rows = [["Agent ID", "agent_id", "CSAT Response", "Extra"], ["a1", "a2", 'Good, "really"\nyes', '{"k": [1, 2]}', "beyond header"]]
    payload = io.BytesIO(csv_bytes(rows))
    assert list(report_rows(payload)) == [
        {
            "agent_id": "a1",
            "agent_id_2": "a2",
            "csat_response": 'Good, "really"\nyes',
            "extra": '{"k": [1, 2]}',
            "extra_column_1": "beyond header",
        }
    ]


@pytest.mark.parametrize(
    "header,name",
    [
        ("Conversation ID", "conversation_id"),
        (" conversation-id ", "conversation_id"),
        ("Value In Seconds", "value_in_seconds"),
        ("CSAT_ID", "csat_id"),
    ],
)
def test_header_names_match_loosely(header, name):
    assert normalise_column(header) == name


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-11-02 10:00:00", "2026-11-02T10:00:00+00:00"),
        ("2026-11-02T10:00:00.500Z", "2026-11-02T10:00:00.500000+00:00"),
        ("1762077600", "2025-11-02T10:00:00+00:00"),
        ("1762077600000", "2025-11-02T10:00:00+00:00"),
    ],
)
def test_report_times_read_in_every_form(value, expected):
    assert report_time(value).isoformat() == expected


def test_the_reach_floor_is_15_calendar_months_back_with_a_day_to_spare():
    assert reach_floor(datetime(2026, 12, 1, 12, tzinfo=timezone.utc)) == datetime(2025, 9, 2, 12, tzinfo=timezone.utc)
    assert reach_floor(datetime(2026, 5, 31, tzinfo=timezone.utc)) == datetime(2025, 3, 1, tzinfo=timezone.utc)  # Feb 28 + 1 day


def test_urllib3_request_lines_lose_their_query_in_the_logs(caplog):
    pool_logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        pool_logger.debug('%s://%s:%s "%s %s %s" %s %s', "https", "storage.example", 443, "GET", f"/a.csv?{SIGNED}", "HTTP/1.1", 200, 10)
    assert caplog.records[0].getMessage() == 'https://storage.example:443 "GET /a.csv HTTP/1.1" 200 10'


def test_a_creation_quota_that_never_frees_up_fails_within_the_report_wait(requests_mock, clock):
    requests_mock.post(REPORTS, status_code=429, headers={"Retry-After": "60"}, json={"code": 429})
    extract = client(clock, report_wait_minutes=3)
    with pytest.raises(ReportError, match="did not finish the CSAT-Score report .* within 3 minutes"):
        links(extract, extract.want("CSAT-Score", START, END))
    assert requests_mock.call_count <= 5


def test_polls_start_after_2_s_and_grow_by_half_up_to_30_s(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", [{"json": {"status": "IN_PROGRESS"}}] * 9 + [{"json": completed("j1")}])
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert clock.sleeps == pytest.approx([2.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125, 30.0, 30.0, 30.0])


def test_a_later_consumer_reuses_a_created_job_that_covers_it_and_gets_a_new_one_otherwise(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    extract = client(clock)
    created = extract.want("Message-Sent", START, END)
    links(extract, created)
    assert extract.want("Message-Sent", START + timedelta(days=1), END) is created
    earlier = extract.want("Message-Sent", START - timedelta(days=1), END)
    assert earlier is not created and not earlier.pieces and earlier.start == START - timedelta(days=1)


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


def test_links_that_stay_expired_fail_after_three_refreshes(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", status_code=403)
    extract = client(clock)
    with pytest.raises(ReportError, match="refused as expired"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert len([r for r in requests_mock.request_history if r.hostname == "exports.storage.example"]) == 4
    assert len([r for r in requests_mock.request_history if r.url == f"{REPORTS}/j1"]) == 1 + 3  # no fresh links after the last try


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


def test_only_the_csv_files_of_an_archive_are_read_and_blank_lines_are_skipped():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "About this export\nIt was generated by Freshchat.\n")  # would read as one row
        archive.writestr("events.csv", "conversation_id,created_at\r\nc1,2026-11-02\r\n\r\nc2,2026-11-03\r\n")
    assert [row["conversation_id"] for row in report_rows(buffer)] == ["c1", "c2"]


def test_while_creation_is_rate_limited_no_other_job_is_created(requests_mock, clock):
    requests_mock.post(
        REPORTS, [{"status_code": 429, "headers": {"Retry-After": "30"}, "json": {}}, {"json": {"id": "j1"}}, {"json": {"id": "j2"}}]
    )
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    first, second = extract.want("CSAT-Score", START, END), extract.want("Response-Time", START, END)
    links(extract, first)
    links(extract, second)
    posts = [r for r in requests_mock.request_history if r.method == "POST"]
    assert len(posts) == 3 and clock.sleeps[0] == pytest.approx(30)


def test_a_429_on_a_poll_waits_as_told_and_polls_again(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", [{"status_code": 429, "headers": {"Retry-After": "17"}, "json": {}}, {"json": completed("j1")}])
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert clock.sleeps == pytest.approx([2.0, 17.0])


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_job_that_vanishes_is_created_again_with_polls_from_2_s(requests_mock, clock, status, caplog):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j1", [{"json": {"status": "IN_PROGRESS"}}, {"status_code": status, "json": {}}])
    requests_mock.get(f"{REPORTS}/j2", [{"json": {"status": "IN_PROGRESS"}}, {"json": completed("j2")}])
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        job = extract.want("CSAT-Score", START, END)
        links(extract, job)
    assert job.pieces[0].job_id == "j2" and [s for s in clock.sleeps if s >= 1] == pytest.approx(
        [2.0, 3.0, 2.0, 3.0]
    )  # j2's polls: 2 s, 3 s...
    assert any(f"Its job j1 answered HTTP {status}" in message for message in caplog.messages)
    assert any("Created the CSAT-Score report" in message and "(job j2)" in message for message in caplog.messages)
    assert any(message.startswith("The CSAT-Score report for") and "is ready: 0 link(s)" in message for message in caplog.messages)


def test_a_failed_link_inside_a_completed_job_creates_the_job_again(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    failed_link = {"status": "FAILED", "link": {"href": f"{STORAGE}/a.csv"}}
    requests_mock.get(f"{REPORTS}/j1", json={"id": "j1", "status": "COMPLETED", "links": [failed_link]})
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    job = extract.want("CSAT-Score", START, END)
    links(extract, job)
    assert job.pieces[0].job_id == "j2"


def test_a_pending_link_keeps_the_job_waiting_and_a_link_without_status_counts_as_done(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    pending = {"id": "j1", "status": "COMPLETED", "links": [{"status": "IN_PROGRESS", "link": {"href": f"{STORAGE}/a.csv"}}]}
    done = {"id": "j1", "status": "COMPLETED", "links": [{"link": {"href": f"{STORAGE}/a.csv"}}]}
    requests_mock.get(f"{REPORTS}/j1", [{"json": pending}, {"json": done}])
    extract = client(clock)
    assert [link.url for link in links(extract, extract.want("CSAT-Score", START, END))] == [f"{STORAGE}/a.csv"]
    assert len(clock.sleeps) == 2


def test_answers_without_a_job_id_or_a_link_url_fail_the_report_loudly(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, [{"json": {"link": {}}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j2", json={"id": "j2", "status": "COMPLETED", "links": [{"status": "COMPLETED", "link": {}}]})
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"), pytest.raises(ReportError, match="has no job id"):
        links(extract, extract.want("CSAT-Score", START, END))
    assert not [message for message in caplog.messages if message.startswith("Created the CSAT-Score report")]
    with caplog.at_level(logging.INFO, logger="airbyte"), pytest.raises(ReportError, match="has no URL"):
        links(extract, extract.want("Response-Time", START, END))
    assert not [message for message in caplog.messages if "is ready" in message]


def test_a_429_on_creation_without_advice_waits_a_minute(requests_mock, clock):
    requests_mock.post(REPORTS, [{"status_code": 429, "json": {"code": 429}}, {"json": {"id": "j1"}}])
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, END))
    assert clock.sleeps[0] == pytest.approx(60)  # the reported quota: about one creation per minute


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


def test_a_slow_report_logs_its_wait_once_a_minute_not_at_every_poll(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", [{"json": {"status": "IN_PROGRESS"}}] * 12 + [{"json": completed("j1")}])
    extract = client(clock, report_wait_minutes=10)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        links(extract, extract.want("CSAT-Score", START, END))
    waits = [message for message in caplog.messages if message.startswith("Waiting for the CSAT-Score report")]
    # 12 polls in 4 minutes (at 2 s, 5 s, ... 64 s, 94 s, ...): the first one logs, then one line per minute.
    assert waits[0].endswith("IN_PROGRESS after 2s; next poll in 3s (gives up after 10 min)")
    assert [message.split(": IN_PROGRESS after ")[1].split(";")[0] for message in waits] == ["2s", "64s", "124s", "184s"]


def test_fresh_links_without_the_expired_part_fail_the_report_naming_it(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    two_parts = completed("j1", f"{STORAGE}/a.csv?{SIGNED}", f"{STORAGE}/b.csv?{SIGNED}")
    requests_mock.get(f"{REPORTS}/j1", [{"json": two_parts}, {"json": completed("j1", f"{STORAGE}/a.csv?{SIGNED}")}])
    requests_mock.get(f"{STORAGE}/a.csv", content=csv_bytes(TRANSCRIPT))
    requests_mock.get(f"{STORAGE}/b.csv", status_code=403)
    extract = client(clock)
    with pytest.raises(ReportError, match="fresh links for the Chat-Transcript report .* no longer include part 2"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))


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


def test_a_vanished_job_waiting_to_be_created_again_is_reported_as_not_created(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"status_code": 429, "headers": {"Retry-After": "600"}, "json": {}}])
    requests_mock.get(f"{REPORTS}/j1", status_code=404, json={"code": 404, "status": "NOT_FOUND"})
    extract = client(clock, report_wait_minutes=5)
    with pytest.raises(ReportError, match=r"within 5 minutes \(last status NOT CREATED\)"):
        links(extract, extract.want("CSAT-Score", START, END))


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
