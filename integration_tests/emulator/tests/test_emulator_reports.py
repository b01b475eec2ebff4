"""Tests of the emulator's Extract API (raw reports), its storage host and the dataset's event log, over real HTTP."""

import codecs
import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from integration_tests.emulator import REPORT_EVENTS, Behaviour, Dataset, FreshchatEmulator, recent_start_ms
from integration_tests.emulator.__main__ import parse_args
from integration_tests.emulator.data import MS_PER_DAY, MS_PER_HOUR, STREAM_NAMES, encode_json, iso_from_ms, ms_from_iso, now_ms
from integration_tests.emulator.reports import months_before

API_KEY = "test-api-key"
# What every stream of Dataset() held before the event log existed, measured on main; then the
# records of add_user, add_conversation and add_message, which pin the default (logical) clock.
RECORD_HASHES_ON_MAIN = {
    "account": "5cf1a30701f4320b36a37a10d54e575bc29b207692148fee040f17016e53a38e",
    "users": "db2f0af283375f5b486d8443c2a01dfeac9d9fb950e18b71f5f949e90aa582cb",
    "conversations": "0c20feb86079a604236c8be34005e8633ee6355ce093cca9332bcbb46969d908",
    "messages": "e09f706f86a47de1fcdc88ec6ef89ce3589d03095aad98a85e6db8566a40a6e3",
    "conversation_properties": "7691ed88ea1ccc68f9d9e97fc05a7dbb132c359db1f5cac1d3265eaf9ea07e83",
    "agents": "0bf5463e49fffb6737c59a8f1e1319f8bd52bc5ef1c379684bc85bc4c744b08c",
    "groups": "dc0d0f1ed18666480788a437f26de011256753965faa9f8927d7e2bad17e1001",
    "channels": "bc711516e8e2201dcf52df965dc896bc1e85ff385c99d4b7962bd1753cf76152",
    "roles": "ad0ba74921b9605bcabb73adb639dac7b9b3d5ef97cd54f67ade3c50658b5e6e",
    "outbound_messages": "c07f030a7dc984a76c14c940508c8f9cf67e010426fc49ea3b5e5a9ed88e7068",
}
MUTATION_HASH_ON_MAIN = "ac744fd319171065bc76b91815dcaa4cb5db5714224dcf97281186eb8ffb61be"


def days_ago(days: float) -> str:
    return iso_from_ms(now_ms() - int(days * MS_PER_DAY))


class Reports:
    """An authenticated keep-alive client of the reports routes; downloads go without credentials."""

    def __init__(self, emulator: FreshchatEmulator):
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"

    def create(self, event: str = "Conversation-Created", start: str = None, end: str = None, **overrides) -> requests.Response:
        body = {"start": start or days_ago(400), "end": end or days_ago(-1 / 24), "event": event, "format": "csv", **overrides}
        return self.session.post(self.emulator.url + "/v2/reports/raw", json=body, timeout=5)

    def job_id(self, event: str = "Conversation-Created", start: str = None, end: str = None) -> str:
        response = self.create(event, start, end)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def poll(self, job_id: str) -> requests.Response:
        return self.session.get(f"{self.emulator.url}/v2/reports/raw/{job_id}", timeout=5)

    def completed(self, job_id: str) -> dict:
        """Polls past the pending polls; the job must then be COMPLETED."""
        for _ in range(self.emulator.behaviour.report_pending_polls):
            assert self.poll(job_id).json()["status"] in ("PENDING", "IN_PROGRESS")
        body = self.poll(job_id).json()
        assert body["status"] == "COMPLETED", body
        return body

    def links(self, event: str = "Conversation-Created", start: str = None, end: str = None) -> list:
        return self.completed(self.job_id(event, start, end))["links"]

    def rows(self, event: str = "Conversation-Created", start: str = None, end: str = None) -> list:
        return [row for link in self.links(event, start, end) for row in table(download(link))]


def download(link: dict, **headers) -> requests.Response:
    return requests.get(link["link"]["href"], headers=headers, timeout=5, allow_redirects=False)


def csv_file(raw: bytes) -> tuple[list, list]:
    """Header and rows of one CSV file, which must start with a UTF-8 BOM."""
    assert raw.startswith(codecs.BOM_UTF8)
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    return header, rows


def csv_files(response: requests.Response) -> list:
    assert response.status_code == 200, response.text
    if response.headers["Content-Type"] == "application/zip":
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        return [csv_file(archive.read(name)) for name in archive.namelist()]
    assert response.headers["Content-Type"].startswith("text/csv")
    return [csv_file(response.content)]


def table(response: requests.Response) -> list:
    return [dict(zip(header, row)) for header, rows in csv_files(response) for row in rows]


def storage_error_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml" and response.content.startswith(b"<?xml")
    return response.text.split("<Code>")[1].split("</Code>")[0]


@pytest.fixture
def emu():
    one_link = Behaviour(report_link_hours=24 * 500)  # a whole 400-day window in one link, unless a test splits it
    with FreshchatEmulator(
        seed=7, users=20, conversations_per_user=2, messages_per_conversation=7, behaviour=one_link, recent=True
    ) as emulator:
        yield emulator


@pytest.fixture
def reports(emu):
    client = Reports(emu)
    yield client
    client.session.close()


# -- job creation ---------------------------------------------------------------------------
@pytest.mark.parametrize("with_v2, prefix", [(False, "/reports/raw/"), (True, "/v2/reports/raw/")])
def test_creation_answers_202_with_a_link_to_the_job(reports, emu, with_v2, prefix):
    emu.behaviour.report_href_with_v2 = with_v2
    response = reports.create()
    body = response.json()
    assert response.status_code == 202 and body["link"] == {"rel": "extracts", "href": prefix + body["id"]}
    assert reports.session.get(emu.url + "/v2/reports/raw/" + body["id"]).status_code == 200


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"start": None}, "missing required fields: start"),
        ({"end": ""}, "missing required fields: end"),
        ({"event": None, "format": None}, "missing required fields: event, format"),
        ({"format": "json"}, "format must be csv"),
        ({"start": "last week"}, "ISO-8601"),
        ({"start": days_ago(1), "end": days_ago(2)}, "start must be before end"),
        ({"start": days_ago(1), "end": days_ago(1)}, "start must be before end"),
        ({"start": days_ago(16 * 31)}, "15 months"),
        ({"event": "Ticket-Created"}, "Unknown event Ticket-Created"),
    ],
)
def test_creation_validates_the_request(reports, emu, overrides, message):
    body = {"start": days_ago(30), "end": days_ago(0), "event": "Conversation-Created", "format": "csv", **overrides}
    response = reports.session.post(emu.url + "/v2/reports/raw", json={k: v for k, v in body.items() if v is not None}, timeout=5)
    assert response.status_code == 400 and response.json()["status"] == "BAD_REQUEST"
    assert message in response.json()["message"]


def test_creation_rejects_a_body_that_is_not_a_json_object(reports, emu):
    for body in (b"start=yesterday", b"[1, 2]"):
        assert reports.session.post(emu.url + "/v2/reports/raw", data=body, timeout=5).status_code == 400


def test_start_may_go_back_fifteen_calendar_months_and_no_further(reports):
    floor = months_before(datetime.now(timezone.utc), 15)
    floor_ms = int(floor.timestamp() * 1000)
    assert reports.create(start=iso_from_ms(floor_ms + 60_000)).status_code == 202
    refused = reports.create(start=iso_from_ms(floor_ms - MS_PER_HOUR))
    assert refused.status_code == 400 and "earlier than 15 months" in refused.json()["message"]


def test_months_before_counts_calendar_months_and_clamps_the_day():
    assert months_before(datetime(2026, 5, 31, 12, tzinfo=timezone.utc), 15) == datetime(2025, 2, 28, 12, tzinfo=timezone.utc)
    assert months_before(datetime(2026, 3, 15, tzinfo=timezone.utc), 15) == datetime(2024, 12, 15, tzinfo=timezone.utc)


def test_a_refused_event_is_a_400_naming_it(reports, emu):
    emu.behaviour.refused_events = {"Chat-Transcript"}
    response = reports.create("Chat-Transcript")
    assert response.status_code == 400
    assert response.json()["message"] == "Event Chat-Transcript is not supported for this account"
    assert reports.create("Message-Sent").status_code == 202


@pytest.mark.parametrize("availability, status", [("forbidden", 403), ("missing", 404)])
def test_an_account_without_the_extract_api_refuses_every_reports_route(reports, emu, availability, status):
    job_id = reports.job_id()
    emu.behaviour.extract_api = availability
    assert reports.create().status_code == status
    assert reports.poll(job_id).status_code == status
    assert reports.session.get(emu.url + "/v2/roles").status_code == 200


@pytest.mark.parametrize("retry_after", [True, False])
def test_job_creation_quota_answers_429_and_leaves_polls_alone(reports, emu, retry_after):
    emu.behaviour.report_jobs_per_window, emu.behaviour.retry_after = 2, retry_after
    first, second, third = (reports.create() for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [202, 202, 429]
    assert third.json()["status"] == "TOO_MANY_REQUESTS"
    assert ("Retry-After" in third.headers) is retry_after
    if retry_after:
        assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert all(reports.poll(first.json()["id"]).status_code == 200 for _ in range(3))
    assert reports.create(format="xml").status_code == 400  # validation comes before the quota
    emu.behaviour.report_job_window_seconds = 0  # the window has run out: a new one opens
    assert reports.create().status_code == 202


# -- polling --------------------------------------------------------------------------------
def test_a_job_is_pending_then_in_progress_then_completed_with_links(reports, emu):
    emu.behaviour.report_pending_polls = 3
    job_id = reports.job_id()
    answers = [reports.poll(job_id).json() for _ in range(4)]
    assert [answer["status"] for answer in answers] == ["PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]
    assert all("links" not in answer for answer in answers[:3]) and answers[3]["links"]
    assert {answer["id"] for answer in answers} == {job_id}
    start, end = answers[0]["interval"].split("/")
    assert ms_from_iso(end) - ms_from_iso(start) > 399 * MS_PER_DAY


def test_with_no_pending_polls_the_first_poll_completes(reports, emu):
    emu.behaviour.report_pending_polls = 0
    assert reports.poll(reports.job_id()).json()["status"] == "COMPLETED"


def test_a_job_that_never_completes_stays_in_progress(reports, emu):
    emu.behaviour.report_never_completes = True
    job_id = reports.job_id()
    statuses = [reports.poll(job_id).json()["status"] for _ in range(6)]
    assert statuses == ["PENDING"] + ["IN_PROGRESS"] * 5


def test_failures_count_down_per_event(reports, emu):
    emu.behaviour.report_failures = {"Conversation-Created": 2}
    failing = [reports.job_id() for _ in range(2)]
    other_event = reports.job_id("Message-Sent")
    last = reports.job_id()
    for job_id in failing:
        answers = [reports.poll(job_id).json() for _ in range(3)]
        assert [answer["status"] for answer in answers] == ["PENDING", "FAILED", "FAILED"]
        assert "links" not in answers[-1]
    assert reports.completed(other_event)["links"] and reports.completed(last)["links"]
    assert emu.behaviour.report_failures == {"Conversation-Created": 0}


def test_an_unknown_job_is_a_404(reports):
    response = reports.poll("no-such-job")
    assert response.status_code == 404 and response.json()["code"] == 404


def test_links_split_the_window_into_consecutive_pieces(reports, emu):
    emu.behaviour.report_link_hours = 24 * 30
    start, end = days_ago(400), days_ago(0)
    links = reports.links("Chat-Transcript", start, end)
    assert len(links) == 14  # 13 whole pieces of 30 days and the last 10 days
    assert links[0]["from"] == start and links[-1]["to"] == end
    assert all(earlier["to"] == later["from"] for earlier, later in zip(links, links[1:]))
    assert all(link["status"] == "COMPLETED" for link in links)
    served = []
    for link in links:
        rows = table(download(link))
        assert all(link["from"] <= row["created_time"] < link["to"] for row in rows)
        served += rows
    truth = emu.data.report_rows("Chat-Transcript", start, end)
    assert served == truth and len(truth) > 20


# -- payload --------------------------------------------------------------------------------
def test_a_zip_holds_several_csv_files_each_with_its_header(reports, emu):
    emu.behaviour.report_files_per_zip = 3
    (link,) = reports.links("Chat-Transcript")
    response = download(link)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert len(archive.namelist()) == 3
    files = csv_files(response)
    assert all(header == list(REPORT_EVENTS["Chat-Transcript"]) for header, _ in files)
    assert all(rows for _, rows in files)
    assert table(response) == emu.data.report_rows("Chat-Transcript", link["from"], link["to"])


def test_a_plain_csv_payload(reports, emu):
    emu.behaviour.report_payload = "csv"
    (link,) = reports.links("Message-Sent")
    assert urlsplit(link["link"]["href"]).path.endswith(".csv")
    response = download(link)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert table(response) == emu.data.report_rows("Message-Sent", link["from"], link["to"])


def test_an_empty_window_is_a_header_only_csv(reports, emu):
    emu.behaviour.report_payload = "csv"
    (link,) = reports.links("CSAT-Score", days_ago(1), days_ago(0))
    assert csv_files(download(link)) == [(list(REPORT_EVENTS["CSAT-Score"]), [])]


def test_title_style_headers_and_times(reports, emu):
    emu.behaviour.report_header_style = "title"
    (link,) = reports.links("First-Response-Time")
    [(header, rows)] = csv_files(download(link))
    assert header == ["Conversation ID", "Agent ID", "Group ID", "Channel ID", "Value In Seconds", "Created At"]
    truth = emu.data.report_rows("First-Response-Time", link["from"], link["to"])
    assert len(rows) == len(truth) > 0
    for row, expected in zip(rows, truth):
        assert row[:5] == [expected[column] for column in REPORT_EVENTS["First-Response-Time"][:5]]
        assert row[5] == expected["created_at"][:10] + " " + expected["created_at"][11:19]  # "2025-07-10 19:47:55"
    emu.behaviour.report_header_style = "snake"
    assert csv_files(download(link))[0][0] == list(REPORT_EVENTS["First-Response-Time"])


def test_title_style_capitalises_acronyms(reports, emu):
    emu.behaviour.report_header_style = "title"
    emu.data.resolve_conversation(next(iter(emu.data.conversations)), csat=5)
    (link,) = reports.links("CSAT-Score", days_ago(1), days_ago(-1))
    assert csv_files(download(link))[0][0][:2] == ["CSAT ID", "Conversation ID"]


def test_commas_quotes_newlines_and_json_survive_the_csv(reports, emu):
    conversation_id = next(iter(emu.data.conversations))
    remark = 'Fine, "really"\nthanks'
    emu.data.resolve_conversation(conversation_id, csat=4, csat_response=remark)
    message = emu.data.add_message(conversation_id, actor_type="user", message_parts=[{"text": {"content": 'a, "b"\nc'}}])
    (score,) = reports.rows("CSAT-Score", days_ago(1), days_ago(-1))
    assert score["csat_response"] == remark and score["value"] == "4"
    (transcript,) = reports.rows("Chat-Transcript", days_ago(1), days_ago(-1))
    assert json.loads(transcript["message_parts"]) == message["message_parts"]
    window = (days_ago(400), days_ago(-1))
    for event in ("CSAT-Score", "Chat-Transcript"):  # every generated row too
        assert reports.rows(event, *window) == emu.data.report_rows(event, *window)
    assert any(
        "," in row["csat_response"] and "\n" in row["csat_response"]
        for row in emu.data.report_rows("CSAT-Score", days_ago(700), days_ago(0))
    )


# -- storage host ---------------------------------------------------------------------------
def test_links_are_presigned_urls_on_the_storage_host(reports, emu):
    (link,) = reports.links()
    url = urlsplit(link["link"]["href"])
    assert f"{url.scheme}://{url.netloc}" == emu.storage_url != emu.url
    query = dict(parse_qsl(url.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "3600"
    assert {"X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"} <= query.keys()
    assert url.path.startswith("/exports/") and url.path.endswith("/1.zip")


def test_storage_refuses_an_authorization_or_cookie_header_and_sets_a_cookie(reports, emu):
    (link,) = reports.links()
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {"Cookie": "AWSALB=abc"}):
        refused = download(link, **headers)
        assert refused.status_code == 400 and storage_error_code(refused) == "InvalidArgument"
        assert "Set-Cookie" in refused.headers
    served = download(link)
    assert served.status_code == 200 and served.headers["Set-Cookie"].startswith("AWSALB=")
    # A session that keeps cookies would send this one back on its next download.
    with requests.Session() as careless:
        assert careless.get(link["link"]["href"], timeout=5).status_code == 200
        assert careless.get(link["link"]["href"], timeout=5).status_code == 400
    sent_headers = [{name.lower() for name in headers} for _, _, headers, _ in emu.storage_log]
    assert [("authorization" in names, "cookie" in names) for names in sent_headers] == [
        (True, False),
        (False, True),
        (False, False),
        (False, False),
        (False, True),
    ]
    assert [status for *_, status in emu.storage_log] == [400, 400, 200, 200, 400]


def test_expired_links_answer_403_until_the_job_is_polled_again(reports, emu):
    job_id = reports.job_id()
    (link,) = reports.completed(job_id)["links"]
    assert download(link).status_code == 200
    emu.expire_links()
    expired = download(link)
    assert expired.status_code == 403 and storage_error_code(expired) == "AccessDenied"
    assert "Request has expired" in expired.text
    (fresh,) = reports.poll(job_id).json()["links"]
    assert fresh["link"]["href"] != link["link"]["href"]
    assert table(download(fresh)) == emu.data.report_rows("Conversation-Created", fresh["from"], fresh["to"])


def test_a_link_with_no_lifetime_is_born_expired(reports, emu):
    emu.behaviour.report_link_ttl_seconds = 0
    (link,) = reports.links()
    assert "Request has expired" in download(link).text


def test_a_tampered_or_unsigned_link_is_403(reports):
    (link,) = reports.links()
    href = link["link"]["href"]
    tampered = requests.get(href.replace("/1.zip", "/2.zip"), timeout=5)
    assert tampered.status_code == 403 and storage_error_code(tampered) == "SignatureDoesNotMatch"
    unsigned = requests.get(href.split("?")[0], timeout=5)
    assert unsigned.status_code == 403 and storage_error_code(unsigned) == "AccessDenied"


@pytest.mark.parametrize(
    "scheme, host",
    [("https", "127.0.0.1"), ("http", "storage.invalid")],
)
def test_the_first_request_of_each_link_can_be_redirected(reports, emu, scheme, host):
    emu.behaviour.storage_redirect = scheme
    (link,) = reports.links()
    redirected = download(link)
    port = urlsplit(emu.storage_url).port
    assert redirected.status_code == 302
    original = urlsplit(link["link"]["href"])
    assert redirected.headers["Location"] == f"{scheme}://{host}:{port}{original.path}?{original.query}"
    assert download(link).status_code == 200


# -- what a job holds -----------------------------------------------------------------------
def test_a_job_holds_only_events_older_than_the_lag(reports, emu):
    user_id = next(iter(emu.data.users))
    emu.behaviour.report_lag_seconds = 3600
    added = emu.data.add_conversation(user_id)
    window = (days_ago(1), days_ago(-1))
    assert [row["conversation_id"] for row in emu.data.report_rows("Conversation-Created", *window)] == [added["conversation_id"]]
    assert reports.rows("Conversation-Created", *window) == []
    emu.behaviour.report_lag_seconds = 0
    assert [row["conversation_id"] for row in reports.rows("Conversation-Created", *window)] == [added["conversation_id"]]


def test_what_a_job_holds_is_fixed_when_it_completes(reports, emu):
    user_id = next(iter(emu.data.users))
    window = (days_ago(1), days_ago(-1))
    job_id = reports.job_id("Conversation-Created", *window)
    reports.completed(job_id)
    emu.data.add_conversation(user_id)
    (link,) = reports.poll(job_id).json()["links"]
    assert table(download(link)) == []
    assert len(reports.rows("Conversation-Created", *window)) == 1


# -- faults and counters --------------------------------------------------------------------
def test_faults_can_be_injected_on_the_reports_routes_and_the_storage(reports, emu):
    emu.inject("POST /v2/reports/raw", [500, "html"])
    assert reports.create().status_code == 500
    assert reports.create().headers["Content-Type"].startswith("text/html")
    job_id = reports.job_id()
    emu.inject("GET /v2/reports/raw/{id}", [429, "truncated"])
    assert reports.poll(job_id).status_code == 429
    with pytest.raises(ValueError):
        reports.poll(job_id).json()  # the pending poll, cut in half
    (link,) = reports.poll(job_id).json()["links"]
    whole = download(link).content
    emu.inject("GET storage", [503, "truncated"])
    assert download(link).status_code == 503
    assert download(link).content == whole[: len(whole) // 2]
    assert download(link).content == whole


def test_reports_and_downloads_are_counted(reports, emu):
    emu.reset_counters()
    (link,) = reports.links()
    download(link)
    assert emu.request_counts == {"POST /v2/reports/raw": 1, "GET /v2/reports/raw/{id}": 2, "GET storage": 1}
    path, query, headers, status = emu.storage_log[0]
    assert path == urlsplit(link["link"]["href"]).path and "X-Amz-Signature" in query and status == 200
    assert "Authorization" not in headers


def test_the_reports_routes_need_the_api_key(emu):
    assert requests.post(emu.url + "/v2/reports/raw", json={}, timeout=5).status_code == 401
    assert requests.get(emu.url + "/v2/reports/raw/any", timeout=5).status_code == 401


def test_invalid_report_behaviours_fail_fast():
    for bad in ({"extract_api": "maybe"}, {"report_payload": "xlsx"}, {"report_header_style": "camel"}, {"storage_redirect": "ftp"}):
        with pytest.raises(ValueError):
            Behaviour(**bad)


# -- the event log --------------------------------------------------------------------------
def events_of(data: Dataset, since: int) -> list:
    return [(event["event"], event["row"]) for event in data.events[since:]]


def test_mutations_add_the_events_freshchat_reports(emu):
    data = emu.data
    user_id = next(iter(data.users))
    agent, group = data.agents[0], data.groups[0]
    since = len(data.events)
    conversation = data.add_conversation(user_id)
    conversation_id = conversation["conversation_id"]
    (created,) = events_of(data, since)
    assert created == (
        "Conversation-Created",
        {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "channel_id": conversation["channel_id"],
            "group_id": conversation.get("assigned_group_id", ""),
            "created_at": conversation["created_time"],
        },
    )

    since = len(data.events)
    data.update_conversation(conversation_id, properties={"priority": "urgent"})
    assert events_of(data, since) == []  # a property-only edit is the feed's blind spot

    since = len(data.events)
    assigned = data.assign_conversation(conversation_id, agent_id=agent["id"], group_id=group["id"])
    assert assigned["status"] == "assigned" and assigned["assigned_agent_id"] == agent["id"]
    moment = assigned["updated_time"]
    assert events_of(data, since) == [
        (
            "Conversation-Agent-Assigned",
            {"conversation_id": conversation_id, "agent_id": agent["id"], "group_id": group["id"], "assigned_by": "", "created_at": moment},
        ),
        (
            "Conversation-Group-Assigned",
            {"conversation_id": conversation_id, "group_id": group["id"], "assigned_by": "", "created_at": moment},
        ),
    ]

    since = len(data.events)
    asked = data.add_message(conversation_id, actor_type="user")
    assert asked["actor_id"] == user_id
    answer = data.add_message(conversation_id, actor_type="agent")
    assert answer["actor_id"] == agent["id"]  # the assigned agent answers
    follow_up = data.add_message(conversation_id, actor_type="agent")
    names = [name for name, _ in events_of(data, since)]
    assert names == [
        "Chat-Transcript",
        "Chat-Transcript",
        "Message-Sent",
        "Response-Time",
        "First-Response-Time",
        "Chat-Transcript",
        "Message-Sent",
    ]
    rows = dict(events_of(data, since)[2:5])
    waited = str((ms_from_iso(answer["created_time"]) - ms_from_iso(asked["created_time"])) // 1000)
    assert rows["Response-Time"] == {
        "conversation_id": conversation_id,
        "message_id": answer["id"],
        "agent_id": agent["id"],
        "group_id": group["id"],
        "value_in_seconds": waited,
        "created_at": answer["created_time"],
    }
    assert rows["First-Response-Time"]["value_in_seconds"] == str(
        (ms_from_iso(answer["created_time"]) - ms_from_iso(conversation["created_time"])) // 1000
    )
    assert rows["Message-Sent"]["message_type"] == answer["message_type"]
    assert events_of(data, since)[-1][1]["message_id"] == follow_up["id"]

    since = len(data.events)
    resolved = data.resolve_conversation(conversation_id, label="Billing", sub_label="Refund", csat=2, csat_response="meh")
    assert resolved["status"] == "resolved"
    names = [name for name, _ in events_of(data, since)]
    assert names == ["Conversation-Resolved", "Resolution-Time", "Conversation-Resolution-Label", "CSAT-Score"]
    rows = dict(events_of(data, since))
    assert rows["Conversation-Resolved"]["resolved_by"] == agent["id"]
    assert rows["Conversation-Resolution-Label"]["label"] == "Billing" and rows["Conversation-Resolution-Label"]["sub_label"] == "Refund"
    assert rows["CSAT-Score"]["value"] == "2" and rows["CSAT-Score"]["csat_response"] == "meh" and rows["CSAT-Score"]["csat_id"]

    since = len(data.events)
    status = "UNAVAILABLE" if agent["availability_status"] == "AVAILABLE" else "AVAILABLE"
    previous = agent["availability_status"]
    changed = data.set_agent_status(agent["id"], status)
    assert changed["availability_status"] == status
    assert events_of(data, since) == [
        ("Agent-Activity", {"agent_id": agent["id"], "status": status, "previous_status": previous, "created_at": changed["updated_time"]})
    ]


def test_mutation_events_come_through_the_api(reports, emu):
    conversation_id = next(iter(emu.data.conversations))
    emu.data.add_message(conversation_id, actor_type="agent")
    emu.data.resolve_conversation(conversation_id)
    window = (days_ago(1), days_ago(-1))
    for event in ("Chat-Transcript", "Message-Sent", "Conversation-Resolved", "Resolution-Time"):
        rows = reports.rows(event, *window)
        assert rows == emu.data.report_rows(event, *window) and [row["conversation_id"] for row in rows] == [conversation_id]


def test_add_message_rejects_an_unknown_actor_and_assign_needs_a_target(emu):
    conversation_id = next(iter(emu.data.conversations))
    with pytest.raises(ValueError):
        emu.data.add_message(conversation_id, actor_type="robot")
    with pytest.raises(ValueError):
        emu.data.assign_conversation(conversation_id)


def test_generated_events_match_the_records():
    data = Dataset(seed=7, users=20)
    rows = {name: data.report_rows(name, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z") for name in REPORT_EVENTS}
    assert all(rows.values())
    for name, event_rows in rows.items():
        assert all(list(row) == list(REPORT_EVENTS[name]) and all(isinstance(value, str) for value in row.values()) for row in event_rows)
    conversations, messages = data.conversations, data.records("messages")
    created = {row["conversation_id"]: row["created_at"] for row in rows["Conversation-Created"]}
    assert created == {cid: conversation["created_time"] for cid, conversation in conversations.items()}
    transcript = {row["message_id"]: row for row in rows["Chat-Transcript"]}
    assert transcript.keys() == {message["id"] for message in messages}
    for message in messages:
        row = transcript[message["id"]]
        assert row["created_time"] == message["created_time"] and row["actor_id"] == message.get("actor_id", "")
        assert json.loads(row["message_parts"]) == message["message_parts"]
    agent_messages = {message["id"] for message in messages if message["actor_type"] == "agent"}
    assert {row["message_id"] for row in rows["Message-Sent"]} == agent_messages
    assert {row["message_id"] for row in rows["Response-Time"]} <= agent_messages
    answered = {message["conversation_id"] for message in messages if message["actor_type"] == "agent"}
    assert sorted(row["conversation_id"] for row in rows["First-Response-Time"]) == sorted(answered)
    resolved = {cid for cid, conversation in conversations.items() if conversation["status"] == "resolved"}
    for name in ("Conversation-Resolved", "Resolution-Time"):
        assert sorted(row["conversation_id"] for row in rows[name]) == sorted(resolved)
    assert {row["conversation_id"] for row in rows["Conversation-Resolution-Label"] + rows["CSAT-Score"]} <= resolved
    assigned = {cid for cid, conversation in conversations.items() if "assigned_agent_id" in conversation}
    assert {row["conversation_id"] for row in rows["Conversation-Agent-Assigned"]} == assigned
    for conversation_id, conversation in conversations.items():
        times = [event["time"] for event in data.events if event["row"].get("conversation_id") == conversation_id]
        assert all(conversation["created_time"] <= moment <= conversation["updated_time"] for moment in times)
    clock_start = data.now()
    assert all(event["time"] < clock_start for event in data.events)
    for agent in data.agents:  # the last status change lands on the agent's current status
        changes = [row for row in rows["Agent-Activity"] if row["agent_id"] == agent["id"]]
        assert 2 <= len(changes) <= 4 and changes[-1]["status"] == agent["availability_status"]
        assert all(earlier["status"] == later["previous_status"] for earlier, later in zip(changes, changes[1:]))


def test_report_rows_are_in_time_order_in_a_half_open_window():
    data = Dataset(seed=7, users=20)
    rows = data.report_rows("Chat-Transcript", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    times = [row["created_time"] for row in rows]
    assert times == sorted(times)
    middle = times[len(times) // 2]
    assert data.report_rows("Chat-Transcript", middle, "2100-01-01T00:00:00Z")[0]["created_time"] == middle
    assert data.report_rows("Chat-Transcript", "2000-01-01T00:00:00Z", middle)[-1]["created_time"] < middle
    with pytest.raises(KeyError):
        data.report_rows("Ticket-Created", middle, middle)


def test_generating_events_leaves_every_record_as_it_was_on_main():
    data = Dataset()
    hashes = {stream: hashlib.sha256(encode_json(data.records(stream))).hexdigest() for stream in STREAM_NAMES}
    assert hashes == RECORD_HASHES_ON_MAIN
    user = data.add_user()
    conversation = data.add_conversation(user["id"])
    message = data.add_message(conversation["conversation_id"])
    assert hashlib.sha256(encode_json([user, conversation, message])).hexdigest() == MUTATION_HASH_ON_MAIN


# -- time ------------------------------------------------------------------------------------
def test_recent_data_ends_before_now_and_lies_mostly_within_fifteen_months():
    start_ms = recent_start_ms()
    assert start_ms % MS_PER_DAY == 0 and (now_ms() - start_ms) // MS_PER_DAY == 640
    data = Dataset(seed=7, users=20, start_ms=start_ms, live_clock=True)
    assert data.account["created_time"] == iso_from_ms(start_ms)
    now = iso_from_ms(now_ms())
    assert all(start_ms <= ms_from_iso(event["time"]) and event["time"] < now for event in data.events)
    floor = iso_from_ms(int(months_before(datetime.now(timezone.utc), 15).timestamp() * 1000))
    created = [conversation["created_time"] for conversation in data.conversations.values()]
    assert sum(moment >= floor for moment in created) > len(created) / 2


def test_a_live_clock_stamps_mutations_with_real_time_and_still_moves_forward():
    data = Dataset(seed=7, users=2, start_ms=recent_start_ms(), live_clock=True)
    before = now_ms()
    stamps = [ms_from_iso(data.now()) for _ in range(50)]
    after = now_ms()
    assert before <= stamps[0] and stamps == sorted(set(stamps)) and stamps[-1] <= after + 50


def test_the_default_clock_is_logical_and_the_data_starts_in_2024():
    data = Dataset(seed=7, users=2)
    assert data.account["created_time"] == "2024-01-01T00:00:00.000Z"
    assert data.now() < "2026-01-01"


def test_recent_emulator_and_cli_switches():
    with FreshchatEmulator(users=2, recent=True) as emulator:
        assert emulator.data.account["created_time"] == iso_from_ms(recent_start_ms())
    assert parse_args([]).recent is True and parse_args(["--no-recent"]).recent is False
