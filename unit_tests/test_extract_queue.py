"""The Extract API's job queue: it acts at the earliest moment any job needs it, never later."""

import pytest

from .test_extract import END, REPORTS, START, FakeClock, client, completed, links

CREATION_QUOTA_SECONDS = 60  # what Freshchat's 429 on a second creation announces


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
