"""The Extract API's job queue: jobs created within Freshchat's quota and polled until ready, windows cut to what
Freshchat accepts, expired links replaced, and the zone of report times found."""

import logging
import re
import time
from datetime import timedelta
from typing import List, Optional

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import APIBudget

from source_freshchat.config import format_timestamp, parse_settings
from source_freshchat.extract import ExtractClient, ReportError
from source_freshchat.extract.jobs import describe_length, refuses_event, stated_limit
from source_freshchat.extract.times import report_time

from ..conftest import API, API_KEY, CONFIG
from .conftest import (
    END,
    FOUR_DAYS_END,
    HOUR,
    NEW_YORK,
    REPORTS,
    SIGNED,
    START,
    STORAGE,
    TRANSCRIPT,
    client,
    completed,
    csv_bytes,
    links,
    zip_bytes,
)


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


def test_links_that_stay_expired_fail_after_three_refreshes(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1", f"{STORAGE}/a.csv?{SIGNED}"))
    requests_mock.get(f"{STORAGE}/a.csv", status_code=403)
    extract = client(clock)
    with pytest.raises(ReportError, match="refused as expired"):
        list(extract.rows(extract.want("Chat-Transcript", START, END)))
    assert len([r for r in requests_mock.request_history if r.hostname == "exports.storage.example"]) == 4
    assert len([r for r in requests_mock.request_history if r.url == f"{REPORTS}/j1"]) == 1 + 3  # no fresh links after the last try


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


def test_a_vanished_job_waiting_to_be_created_again_is_reported_as_not_created(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"status_code": 429, "headers": {"Retry-After": "600"}, "json": {}}])
    requests_mock.get(f"{REPORTS}/j1", status_code=404, json={"code": 404, "status": "NOT_FOUND"})
    extract = client(clock, report_wait_minutes=5)
    with pytest.raises(ReportError, match=r"within 5 minutes \(last status NOT CREATED\)"):
        links(extract, extract.want("CSAT-Score", START, END))


# -- the queue acts at the earliest moment any job needs it, never later ---------------------------
CREATION_QUOTA_SECONDS = 60  # what Freshchat's 429 on a second creation announces


def test_a_ready_report_is_not_held_back_by_another_job_waiting_for_the_creation_quota(requests_mock, clock):
    requests_mock.post(
        REPORTS,
        [
            {"json": {"id": "j1"}},
            {"status_code": 429, "headers": {"Retry-After": str(CREATION_QUOTA_SECONDS)}, "json": {}},
            {"json": {"id": "j2"}},
        ],
    )
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    first, second = extract.want("CSAT-Score", START, END), extract.want("Response-Time", START, END)

    links(extract, first)
    assert clock.sleeps == pytest.approx([2.0])  # first's poll is due long before the quota lets second be created
    assert [request.method for request in requests_mock.request_history] == ["POST", "POST", "GET"]

    links(extract, second)
    assert sum(clock.sleeps) == pytest.approx(CREATION_QUOTA_SECONDS + 2.0)  # created when the quota allows, polled 2 s later


def test_a_job_waiting_for_the_creation_quota_is_created_when_it_frees_up_not_at_another_jobs_next_poll(requests_mock, clock):
    requests_mock.post(
        REPORTS, [{"json": {"id": "j1"}}, {"status_code": 429, "headers": {"Retry-After": "1"}, "json": {}}, {"json": {"id": "j2"}}]
    )
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    extract.want("CSAT-Score", START, END)
    links(extract, extract.want("Response-Time", START, END))
    # Created once the quota's second is up and polled 2 s later: not held until j1's poll at 2 s.
    assert sum(clock.sleeps) == pytest.approx(1.0 + 2.0)


def test_a_second_consumer_of_a_finished_read_gets_its_pieces_without_asking_freshchat_anything(requests_mock, clock):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    requests_mock.get(f"{REPORTS}/j2", json={"status": "IN_PROGRESS"})
    extract = client(clock)
    read = extract.want("CSAT-Score", START, END)
    extract.want("Response-Time", START, END)
    first = links(extract, read)
    asked = requests_mock.call_count
    clock.now += 60  # the first consumer's rows took a minute: j2's next poll is due, but nobody waits for it yet
    assert links(extract, extract.want("CSAT-Score", START, END)) == first
    assert requests_mock.call_count == asked


# -- windows Freshchat refuses as too long ---------------------------------------------------------
class FakeExtractAPI:
    """Jobs that complete at once with one link; a window over `limit` is refused in `refusal`'s words; `quota` creations."""

    def __init__(self, requests_mock, limit: Optional[timedelta] = None, refusal: str = "Range must not exceed {hours} hours"):
        self.limit, self.refusal = limit, refusal
        self.quota: Optional[int] = None
        self.quota_answer = {"status_code": 429, "headers": {"Retry-After": "36000"}}
        self.windows: List[tuple] = []  # (start, end) of every job created
        self.refused: List[tuple] = []
        self.interval = lambda start, end: f"{start}/{end}"
        requests_mock.post(REPORTS, json=self._create)
        requests_mock.get(re.compile(f"{re.escape(REPORTS)}/"), json=self._poll)
        requests_mock.get(re.compile(re.escape(STORAGE)), content=self._download)

    def _create(self, request, context):
        body = request.json()
        start, end = report_time(body["start"]), report_time(body["end"])
        if self.limit is not None and end - start > self.limit:
            self.refused.append((start, end))
            context.status_code = 400
            return {"code": 400, "status": "BAD_REQUEST", "message": self.refusal.format(hours=self.limit / HOUR)}
        if self.quota is not None and len(self.windows) >= self.quota:
            context.status_code = self.quota_answer["status_code"]
            context.headers.update(self.quota_answer["headers"])
            return {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "Daily limit reached"}
        self.windows.append((start, end))
        return {"id": str(len(self.windows) - 1)}

    def _poll(self, request, context):
        number = int(request.path.rsplit("/", 1)[1])
        start, end = self.windows[number]
        link = {
            "from": format_timestamp(start),
            "to": format_timestamp(end),
            "status": "COMPLETED",
            "link": {"href": f"{STORAGE}/{number}"},
        }
        return {"status": "COMPLETED", "interval": self.interval(start, end), "links": [link]}

    def _download(self, request, context):
        start, end = self.windows[int(request.path.rsplit("/", 1)[1])]
        return csv_bytes([["conversation_id", "created_at"], [f"c-{format_timestamp(start)}", format_timestamp(start)]])


def test_a_refused_window_is_asked_for_again_in_pieces_of_the_limit_it_states_oldest_first(requests_mock, clock, caplog):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=24))
    extract = client(clock)
    read = extract.want("Chat-Transcript", START, FOUR_DAYS_END)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        rows = list(extract.rows(read))
    assert api.refused == [(START, FOUR_DAYS_END)]  # one refusal: the answer said how long a window may be
    assert api.windows == [(START + timedelta(days=day), START + timedelta(days=day + 1)) for day in range(4)]
    assert [row["created_at"] for row in rows] == [format_timestamp(start) for start, _ in api.windows]
    assert extract.window_hours("Chat-Transcript") == 24 and extract.window_hours("CSAT-Score") is None
    assert any(
        "Freshchat refused a window of 4 days for Chat-Transcript reports (BAD_REQUEST - Range must not exceed 24.0 hours)" in m
        for m in caplog.messages
    )


def test_a_refusal_that_states_no_limit_halves_the_window_until_it_is_accepted(requests_mock, clock):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=20), refusal="Bad request")
    extract = client(clock)
    list(extract.rows(extract.want("CSAT-Score", START, FOUR_DAYS_END)))
    assert [end - start for start, end in api.refused] == [timedelta(hours=96), timedelta(hours=48), timedelta(hours=24)]
    assert [end - start for start, end in api.windows] == [timedelta(hours=12)] * 8
    assert api.windows[0][0] == START and api.windows[-1][1] == FOUR_DAYS_END


def test_a_window_refused_even_at_an_hour_fails_loudly_with_freshchats_words(requests_mock, clock, caplog):
    api = FakeExtractAPI(requests_mock, limit=timedelta(minutes=30), refusal="The range is too long")
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        with pytest.raises(ReportError, match="and no smaller window is asked for: BAD_REQUEST - The range is too long") as refused:
            list(extract.rows(extract.want("CSAT-Score", START, START + 2 * HOUR)))
    assert not refused.value.refused and not refused.value.quota  # not the "plan has no such report" warning
    assert [window[1] - window[0] for window in api.refused] == [2 * HOUR, HOUR, HOUR]  # each hour once, not cut again
    assert len([message for message in caplog.messages if message.startswith("Freshchat refused a window of")]) == 1


def test_a_400_that_says_the_event_is_not_offered_refuses_the_event_without_splitting(requests_mock, clock):
    requests_mock.post(REPORTS, status_code=400, json={"status": "BAD_REQUEST", "message": "Event CSAT-Score is not supported"})
    extract = client(clock)
    with pytest.raises(ReportError) as refused:
        list(extract.rows(extract.want("CSAT-Score", START, FOUR_DAYS_END)))
    assert refused.value.refused and "Event CSAT-Score is not supported" in refused.value.message
    assert len(requests_mock.request_history) == 1


@pytest.mark.parametrize(
    "message, refuses",
    [
        ("Event Chat-Transcript is not supported for this account", True),
        ("Unknown event Foo; expected one of Agent-Activity, CSAT-Score", True),
        ("Chat-Transcript is not available", True),
        ("The time range for event Chat-Transcript must not exceed 24 hours", False),
        ("Date range is not allowed for this event", False),
        ("not allowed", False),
    ],
)
def test_which_400s_refuse_the_event_rather_than_the_window(message, refuses):
    assert refuses_event(message, "Chat-Transcript") is refuses


def test_the_limit_a_refusal_states_is_the_longest_one_shorter_than_the_window():
    assert stated_limit("Window of 456 days exceeds the limit of 31 days", timedelta(days=456)) == timedelta(days=31)
    assert stated_limit("must not exceed 24 hours", timedelta(hours=24)) is None  # not shorter: halve instead
    assert stated_limit("at most 1 month", timedelta(days=90)) == timedelta(days=28)
    assert stated_limit("too long", timedelta(days=3)) is None
    assert stated_limit("Range must be between 1 hour and 31 days", timedelta(days=90)) == timedelta(days=31)
    assert stated_limit("at most 12 hr", timedelta(days=2)) == timedelta(hours=12)
    assert stated_limit("at most 2 weeks", timedelta(days=30)) == timedelta(days=14)


def test_the_refusal_log_gives_lengths_in_hours_below_two_days_and_in_days_from_there():
    assert describe_length(timedelta(hours=47)) == "47 hours"
    assert describe_length(timedelta(hours=48) - timedelta(seconds=1)) == "48 hours"
    assert describe_length(timedelta(hours=48)) == "2 days"


def test_of_the_windows_learned_for_an_event_the_shortest_is_kept(clock):
    extract = client(clock)
    for hours in (48, 24, 36):
        extract.learn_window("Chat-Transcript", hours)
    assert extract.window_hours("Chat-Transcript") == 24


def test_a_consumer_that_needs_a_later_end_widens_the_shared_read_before_it_is_cut(clock):
    extract = client(clock)
    read = extract.want("Message-Sent", START, END)
    assert extract.want("Message-Sent", START + timedelta(days=1), END + timedelta(days=1)) is read
    assert (read.start, read.end) == (START, END + timedelta(days=1))


def test_a_window_learned_by_an_earlier_sync_cuts_pieces_before_any_refusal(requests_mock, clock):
    api = FakeExtractAPI(requests_mock, limit=timedelta(hours=24))
    extract = client(clock)
    extract.learn_window("Chat-Transcript", 24)
    for unreadable in (0.5, "24", True, None, -3):  # an hour is the shortest piece; anything else in state is ignored
        extract.learn_window("Chat-Transcript", unreadable)
    list(extract.rows(extract.want("Chat-Transcript", START, FOUR_DAYS_END)))
    assert api.refused == [] and len(api.windows) == 4


def test_pieces_are_created_at_most_three_ahead_of_the_one_a_reader_waits_for(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    extract = client(clock)
    extract.learn_window("CSAT-Score", 24)
    pieces = extract.pieces(extract.want("CSAT-Score", START, START + timedelta(days=6)))
    next(pieces)
    assert len(api.windows) == 3
    next(pieces)
    assert len(api.windows) == 4
    assert len(list(pieces)) == 4 and len(api.windows) == 6


def test_a_read_no_consumer_waits_for_yet_has_its_first_three_pieces_created_meanwhile(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    extract = client(clock)
    for event in ("CSAT-Score", "Response-Time"):
        extract.learn_window(event, 24)
    first = extract.want("CSAT-Score", START, START + timedelta(days=6))
    later = extract.want("Response-Time", START, START + timedelta(days=6))
    next(extract.pieces(first))
    assert [piece.job_id is not None for piece in later.pieces] == [True] * 3 + [False] * 3
    assert len(api.windows) == 6


# -- quotas ----------------------------------------------------------------------------------------
def test_a_quota_that_asks_for_longer_than_the_bound_ends_the_read_at_its_last_finished_piece(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.quota = 2
    extract = client(clock)
    extract.learn_window("Chat-Transcript", 24)
    read = extract.want("Chat-Transcript", START, FOUR_DAYS_END)
    finished = [(piece.start, piece.end) for piece in extract.pieces(read)]
    assert finished == api.windows == [(START, START + timedelta(days=1)), (START + timedelta(days=1), START + timedelta(days=2))]
    assert read.deferred is not None and read.deferred.quota
    assert "Daily limit reached" in read.deferred.message and "frees up at about" in read.deferred.message
    assert max(clock.sleeps, default=0) < 600  # the 10 hours Freshchat asked for were not slept
    with pytest.raises(ReportError, match="quota on creating Chat-Transcript reports is used up"):
        list(extract.rows(read))  # a reader that needs every row (the change feed) fails instead


def test_429s_without_advice_end_the_read_once_they_add_up_past_the_bound(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.quota, api.quota_answer = 0, {"status_code": 429, "headers": {}}
    extract = client(clock, report_quota_wait_minutes=3)
    read = extract.want("CSAT-Score", START, FOUR_DAYS_END)
    assert list(extract.pieces(read)) == []
    assert read.deferred is not None and "frees up later" in read.deferred.message
    assert clock.sleeps.count(60.0) == 3  # three waits of a minute, the fourth 429 passes the bound


def test_a_short_quota_wait_is_slept_and_the_job_created_after_it(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    requests_mock.post(REPORTS, [{"status_code": 429, "headers": {"Retry-After": "45"}, "json": {}}, {"json": api._create}])
    extract = client(clock)
    read = extract.want("CSAT-Score", START, FOUR_DAYS_END)
    assert len(list(extract.pieces(read))) == 1 and read.deferred is None and 45.0 in clock.sleeps


def test_a_poll_that_asks_for_a_long_wait_waits_no_longer_than_the_quota_bound(requests_mock, clock):
    requests_mock.post(REPORTS, json={"id": "j1"})
    requests_mock.get(
        f"{REPORTS}/j1",
        [{"status_code": 429, "headers": {"Retry-After": "86400"}, "json": {}}, {"json": {"status": "COMPLETED", "links": []}}],
    )
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    assert max(clock.sleeps) == pytest.approx(600.0)


def test_quota_waits_that_add_up_to_a_second_past_the_bound_leave_the_rest_of_the_read_to_a_later_sync(requests_mock, clock, caplog):
    quota = [{"status_code": 429, "headers": {"Retry-After": seconds}, "json": {}} for seconds in ("61", "61", "59")]
    requests_mock.post(REPORTS, [*quota, {"json": {"id": "j1"}}])
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    extract = client(clock, report_quota_wait_minutes=3)
    read = extract.want("CSAT-Score", START, FOUR_DAYS_END)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert list(extract.pieces(read)) == []
    assert read.deferred is not None and requests_mock.call_count == 3  # 181 s asked in all, over the 180 s bound
    assert any(
        message.endswith(
            "the rest of the CSAT-Score report for 2026-11-01T00:00:00.000Z to 2026-11-05T00:00:00.000Z waits for a later sync"
        )
        for message in caplog.messages
    )


# -- the zone of report times written without an offset --------------------------------------------
def test_times_without_an_offset_are_read_in_the_zone_the_echo_shows_confirmed_by_the_account(requests_mock, clock, caplog):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: f"{start.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}.0_{end.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}.0"
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T15:00:00.000Z"
        assert format_timestamp(extract.report_time("2026-07-02 10:00:00")) == "2026-07-02T14:00:00.000Z"  # the zone's DST
        assert format_timestamp(extract.report_time("2026-11-02T10:00:00Z")) == "2026-11-02T10:00:00.000Z"
    assert [m for m in caplog.messages if "written without an offset" in m] == [
        "Report times written without an offset are read as America/New_York: the account's time zone, which Freshchat's echo "
        "of a report's window confirms"
    ]
    assert extract.time_is_certain("2026-11-02 10:00:00")


def test_an_echo_whose_offset_the_account_does_not_confirm_gives_a_fixed_offset(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: f"{start + 2 * HOUR:%Y-%m-%d %H:%M:%S}_{end + 2 * HOUR:%Y-%m-%d %H:%M:%S}"
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "Etc/UTC"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T08:00:00.000Z"


def test_an_echo_in_utc_needs_no_look_at_the_account(requests_mock, clock):
    FakeExtractAPI(requests_mock)
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T10:00:00.000Z"
    assert not [request for request in requests_mock.request_history if "configuration" in request.path]


def test_without_an_echo_the_accounts_zone_is_used_and_its_times_are_not_certain(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T15:00:00.000Z"
    assert not extract.time_is_certain("2026-11-02 10:00:00") and extract.time_is_certain("2026-11-02T10:00:00Z")


@pytest.mark.parametrize(
    "account", [{"json": {"account_id": "a1"}}, {"status_code": 403, "json": {}}, {"json": {"timezone": "Mars/Olympus"}}]
)
def test_where_nothing_tells_the_zone_times_read_as_utc_with_one_warning(requests_mock, clock, caplog, account):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    requests_mock.get(f"{API}/accounts/configuration", **account)
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        times = [extract.report_time(value) for value in ("2026-11-02 10:00:00", "2026-11-03 10:00:00")]
    assert [format_timestamp(moment) for moment in times] == ["2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z"]
    warnings = [record.message for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "Report times written without an offset are read as UTC: nothing tells their zone (no echo of a report's "
        "window, no time zone in the account's configuration)"
    ]
    assert len([request for request in requests_mock.request_history if "configuration" in request.path]) == 1


def test_times_that_carry_an_offset_or_none_need_no_zone_and_ask_the_account_nothing(requests_mock, clock, caplog):
    requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        assert extract.report_time(None) is None
        assert format_timestamp(extract.report_time("2026-11-02T10:00:00+01:00")) == "2026-11-02T09:00:00.000Z"
    assert requests_mock.call_count == 0 and not [m for m in caplog.messages if "written without an offset" in m]


def test_an_echo_across_a_change_of_dst_that_the_account_does_not_confirm_reads_times_at_the_offset_of_the_windows_start(
    requests_mock, clock
):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: f"{start.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}_{end.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}"
    requests_mock.get(f"{API}/accounts/configuration", status_code=404, json={})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))  # New York leaves DST on 2026-11-01: -4 h, then -5 h
    assert format_timestamp(extract.report_time("2026-11-02 10:00:00")) == "2026-11-02T14:00:00.000Z"


@pytest.fixture
def no_real_sleep(monkeypatch):
    """A retry the account probe must not make would otherwise wait in the CDK's backoff for real."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def read_with_account_answers(requests_mock, clock, caplog, answers: List[dict]) -> tuple:
    """The UTC time of a report time without an offset, where no echo shows a zone and the account's configuration
    answers `answers` in turn (a later one only if the probe asks again); with the log and the probes made."""
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    configuration = requests_mock.get(f"{API}/accounts/configuration", answers)
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        moment = format_timestamp(extract.report_time("2026-11-02 10:00:00"))
    return moment, caplog.messages, configuration.call_count


NEW_YORK_ACCOUNT = {"json": {"timezone": "America/New_York"}}  # what a probe asked again would get: times would shift
UTC_FALLBACK = "Report times written without an offset are read as UTC: nothing tells their zone"


@pytest.mark.parametrize("status", [400, 403, 404, 429])
def test_a_refused_account_configuration_reads_report_times_as_utc_and_is_asked_once(requests_mock, clock, caplog, no_real_sleep, status):
    moment, messages, probes = read_with_account_answers(
        requests_mock, clock, caplog, [{"status_code": status, "json": {}}, NEW_YORK_ACCOUNT]
    )
    assert moment == "2026-11-02T10:00:00.000Z" and probes == 1
    assert f"Skipping GET /v2/accounts/configuration: HTTP {status}, no time zone from the account" in messages
    assert any(m.startswith(UTC_FALLBACK) for m in messages)
    assert not any(m.startswith("Could not read the account's time zone") for m in messages)  # an answer, not a failure


@pytest.mark.parametrize("failure", [{"status_code": 500, "json": {}}, {"exc": requests.ConnectionError("reset")}])
def test_an_account_configuration_that_cannot_be_read_is_logged_asked_once_and_times_read_as_utc(
    requests_mock, clock, caplog, no_real_sleep, failure
):
    moment, messages, probes = read_with_account_answers(requests_mock, clock, caplog, [failure, NEW_YORK_ACCOUNT])
    assert moment == "2026-11-02T10:00:00.000Z" and probes == 1
    assert any(m.startswith("Could not read the account's time zone: ") for m in messages)
    assert any(m.startswith(UTC_FALLBACK) for m in messages)


@pytest.mark.parametrize("zone", ["", 5])
def test_an_account_configuration_whose_zone_is_empty_or_not_a_name_reads_times_as_utc_without_an_error(requests_mock, clock, caplog, zone):
    moment, messages, probes = read_with_account_answers(requests_mock, clock, caplog, [{"json": {"timezone": zone}}])
    assert moment == "2026-11-02T10:00:00.000Z" and probes == 1
    assert any(m.startswith(UTC_FALLBACK) for m in messages)
    assert not any(m.startswith("Could not read the account's time zone") for m in messages)


class RecordingBudget(APIBudget):
    """The sync's budget, with a note of every request it let go."""

    def __init__(self) -> None:
        super().__init__(policies=[])
        self.requests: List[tuple] = []

    def acquire_call(self, request, block: bool = True, timeout: Optional[float] = None) -> None:
        self.requests.append((request.method, request.path_url))
        super().acquire_call(request, block, timeout)


def test_the_extract_apis_requests_go_through_the_syncs_budget_with_the_token_and_ask_for_json(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    api.interval = lambda start, end: None
    configuration = requests_mock.get(f"{API}/accounts/configuration", json={"timezone": "America/New_York"})
    budget = RecordingBudget()
    extract = ExtractClient(parse_settings(CONFIG), budget, clock=clock, sleep=clock.sleep)
    links(extract, extract.want("CSAT-Score", START, FOUR_DAYS_END))
    extract.report_time("2026-11-02 10:00:00")
    assert budget.requests == [("POST", "/v2/reports/raw"), ("GET", "/v2/reports/raw/0"), ("GET", "/v2/accounts/configuration")]
    creation, probe = requests_mock.request_history[0], configuration.last_request
    assert probe.headers["Authorization"] == f"Bearer {API_KEY}"
    assert creation.headers["Accept"] == probe.headers["Accept"] == "application/json"


# -- what is left of a read when Freshchat answers otherwise -----------------------------------------
def test_a_read_the_quota_defers_does_not_hold_back_another_events_creation(requests_mock, clock):
    def create(request, context):
        if request.json()["event"] == "CSAT-Score":  # its own daily quota is used up, for ten hours
            context.status_code, context.headers["Retry-After"] = 429, "36000"
            return {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "Daily limit reached"}
        return {"id": "j1"}

    requests_mock.post(REPORTS, json=create)
    requests_mock.get(f"{REPORTS}/j1", json=completed("j1"))
    extract = client(clock)
    deferred = extract.want("CSAT-Score", START, END)
    other = extract.want("Response-Time", START, END)
    assert list(extract.pieces(deferred)) == [] and deferred.deferred is not None
    assert len(links(extract, other)) == 0 and other.deferred is None
    assert sum(clock.sleeps) == pytest.approx(2.0)  # created at once and polled 2 s later, not after the ten hours


def test_a_recreated_piece_refused_as_too_long_is_cut_up_to_the_next_piece_whose_job_is_kept(requests_mock, clock):
    refusal = {"status_code": 400, "json": {"status": "BAD_REQUEST", "message": "The time range must not exceed 12 hours"}}
    answers = [*({"json": {"id": job}} for job in "abc"), refusal, *({"json": {"id": job}} for job in "de")]
    created = requests_mock.post(REPORTS, answers)
    requests_mock.get(f"{REPORTS}/a", json={"id": "a", "status": "FAILED"})
    for job in "bcde":
        requests_mock.get(f"{REPORTS}/{job}", json=completed(job))
    extract = client(clock)
    extract.learn_window("CSAT-Score", 24)
    pieces = list(extract.pieces(extract.want("CSAT-Score", START, START + timedelta(days=3))))
    half_day = timedelta(hours=12)
    assert [(piece.job_id, piece.start) for piece in pieces] == [
        ("d", START),
        ("e", START + half_day),
        ("b", START + timedelta(days=1)),  # created before the refusal: its job is read, not asked for again
        ("c", START + timedelta(days=2)),
    ]
    assert created.call_count == 6


def test_a_job_answering_404_without_a_message_is_created_again_saying_so(requests_mock, clock, caplog):
    requests_mock.post(REPORTS, [{"json": {"id": "j1"}}, {"json": {"id": "j2"}}])
    requests_mock.get(f"{REPORTS}/j1", status_code=404, text="")
    requests_mock.get(f"{REPORTS}/j2", json=completed("j2"))
    extract = client(clock)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        links(extract, extract.want("CSAT-Score", START, END))
    assert any(message.startswith("Its job j1 answered HTTP 404 (no message) for the CSAT-Score report") for message in caplog.messages)


def test_the_first_echo_that_shows_a_zone_is_kept_when_a_later_poll_echoes_none(requests_mock, clock):
    api = FakeExtractAPI(requests_mock)
    start = START + timedelta(days=9)  # after New York left DST: -5 h at both ends
    echoes = iter([f"{start.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}_{END.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S}", None])
    api.interval = lambda start, end: next(echoes)
    requests_mock.get(f"{API}/accounts/configuration", status_code=404, json={})
    extract = client(clock)
    links(extract, extract.want("CSAT-Score", start, END))
    links(extract, extract.want("Response-Time", start, END))
    assert format_timestamp(extract.report_time("2026-11-20 10:00:00")) == "2026-11-20T15:00:00.000Z"
