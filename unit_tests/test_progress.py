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


def estimates_of_a_walk(records_of_user, users=64):
    """(users walked, estimate) for each estimate a stream reached through `users` users sends; user k has records_of_user(k)."""
    progress = StreamProgress("messages", lambda: "no waits")
    progress.rows_per_user = True
    progress.listed(users)
    sent_after = []
    for user in range(users):
        _, sent = records_and_estimates(list(progress.track({"id": n} for n in range(records_of_user(user)))))
        sent_after += [(progress.users_walked, estimate) for estimate in sent]
        progress.users_done()
    return sent_after


def test_a_walk_through_users_refines_its_estimate_as_the_sample_doubles():
    estimates = [estimate for _, estimate in estimates_of_a_walk(lambda user: 10 if user % 2 else 30)]  # 20 per user on average
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


def test_a_progress_line_comes_every_10_seconds(caplog):
    clock = Clock()
    progress = StreamProgress("agents", lambda: "no waits", clock)

    def agents():
        for n in range(30):
            clock.now += 1.0  # one record a second, for 30 s
            yield {"id": n}

    list(progress.track(agents()))
    lines = [message for message in caplog.messages if message.startswith("Progress of agents")]
    assert [line.split(": ")[1].split(" records")[0] for line in lines] == ["10", "20", "30"]


def test_an_estimate_is_sent_again_only_once_it_moves_more_than_5_percent():
    progress = StreamProgress("agents", lambda: "no waits")
    sent = []
    for total in (100, 105, 106, 111, 112):  # 5% of 100 is not enough; 6% is; then 5% of 106 (5.3) is not, 6 is
        progress.listed(total)
        sent += records_and_estimates(list(progress.track([{"id": total}])))[1]
    assert sent == [100, 106, 112]


def test_estimates_are_stamped_in_milliseconds(mocker):
    mocker.patch("source_freshchat.progress.time.time", return_value=1_700_000_000.5)
    progress = StreamProgress("agents", lambda: "no waits")
    progress.listed(1)
    estimate = next(item for item in progress.track([{"id": 1}]) if isinstance(item, AirbyteTraceMessage))
    assert estimate.emitted_at == 1_700_000_000_500


def test_a_walk_sends_no_estimate_and_logs_no_total_before_it_knows_how_many_users_it_walks(caplog):
    clock = Clock()
    progress = StreamProgress("messages", lambda: "no waits", clock)
    progress.rows_per_user = True
    progress.users_done()  # a user walked before the listing's size is known

    def messages():
        clock.now += LOG_EVERY_SECONDS
        yield {"id": 1}

    records, estimates = records_and_estimates(list(progress.track(messages())))
    assert len(records) == 1 and estimates == []
    assert caplog.messages[-1].startswith("Progress of messages: 1 records, 0 requests")


def test_a_walks_estimate_is_refreshed_each_time_the_users_walked_double():
    sent_after = estimates_of_a_walk(lambda user: user + 1)  # user k has k + 1 records
    # After w users, w(w+1)/2 records: 32(w+1) for 64 users; it moves enough at every doubling.
    assert sent_after == [(w, 32 * (w + 1)) for w in (1, 2, 4, 8, 16, 32)]
