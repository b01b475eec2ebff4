from airbyte_cdk.models import AirbyteTraceMessage

from source_freshchat.progress import LOG_EVERY_SECONDS, StreamProgress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def records_and_estimates(items):
    records = [item for item in items if not isinstance(item, AirbyteTraceMessage)]
    estimates = [item.estimate.row_estimate for item in items if isinstance(item, AirbyteTraceMessage)]
    return records, estimates


def test_a_list_is_estimated_once_from_its_total():
    progress = StreamProgress("agents", lambda: "no waits")

    def pages():
        progress.listed(120)  # the first page's pagination, parsed as the records are read
        yield from ({"id": n} for n in range(120))

    records, estimates = records_and_estimates(list(progress.track(pages())))
    assert len(records) == 120 and estimates == [120]


def test_a_walk_through_users_refines_its_estimate_as_the_sample_doubles():
    progress = StreamProgress("messages", lambda: "no waits")
    progress.rows_per_user = True
    progress.listed(64)
    estimates = []
    for user in range(64):
        per_user = 10 if user % 2 else 30  # 20 per user on average
        _, sent = records_and_estimates(list(progress.track({"id": n} for n in range(per_user))))
        progress.users_done()
        estimates += sent
    assert 1 <= len(estimates) <= 7  # after 1, 2, 4, ... 32 users at most
    assert abs(estimates[-1] - 64 * 20) <= 0.1 * 64 * 20


def test_the_progress_line_says_records_requests_rate_waits_and_eta(caplog):
    clock = Clock()
    progress = StreamProgress("users", lambda: "3 rate-limit waits (4.5s summed over workers)", clock)
    progress.listed(400)

    def users():
        for n in range(100):
            progress.count_request()
            clock.now += LOG_EVERY_SECONDS / 50  # 100 records over two log periods
            yield {"id": n}

    list(progress.track(users()))
    lines = [message for message in caplog.messages if message.startswith("Progress of users")]
    assert len(lines) == 2
    assert lines[-1] == (
        "Progress of users: 100 records of ~400, 100 requests (5.0/s), 3 rate-limit waits (4.5s summed over workers), ETA 60s"
    )
