import time

import pytest
import requests
from airbyte_cdk.sources.streams import call_rate
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit

from source_freshchat import rate_limit
from source_freshchat.rate_limit import FreshchatAPIBudget, FreshchatWindows


class PacingClock:
    """Wall-clock time that moves only when the budget sleeps, so a wait is measured exactly, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    monotonic = time

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def pacing_clock(monkeypatch) -> PacingClock:
    clock = PacingClock()
    monkeypatch.setattr(rate_limit, "PACING_CLOCK", clock)
    monkeypatch.setattr(call_rate, "time", clock)  # the CDK's own cap (requests_per_minute) sleeps through it
    return clock


def response(remaining=None, reset=None, status=200):
    answer = requests.Response()
    answer.status_code = status
    if remaining is not None:
        answer.headers["X-RateLimit-Remaining"] = str(remaining)
    if reset is not None:
        answer.headers["X-RateLimit-Reset"] = str(reset)
    return answer


def request():
    return requests.Request("GET", "https://acme.freshchat.com/v2/agents").prepare()


def timed_acquire(budget):
    """The seconds one call waited for the budget, on the pacing clock."""
    started = rate_limit.PACING_CLOCK.monotonic()
    budget.acquire_call(request())
    return rate_limit.PACING_CLOCK.monotonic() - started


def test_plenty_of_remaining_calls_never_wait():
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=500, reset=time.time() + 60))
    assert sum(timed_acquire(budget) for _ in range(50)) == 0


def test_a_spent_window_holds_requests_until_it_ends_and_the_wait_is_logged(caplog, pacing_clock):
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=0, reset=pacing_clock.time() + 1.2))
    waited = timed_acquire(budget)
    assert waited == pytest.approx(1.2, abs=1e-3) and budget.waited_seconds == waited  # until the window's reset
    assert budget.waits_text().startswith("1 rate-limit waits (")
    paced = [float(m.split("waited ")[1].split("s ")[0]) for m in caplog.messages if m.startswith("Paced by Freshchat's rate limit")]
    assert len(paced) == 1 and paced[0] >= 1.0  # the held request only: waits under a second are not worth a line


def test_a_429_alone_does_not_block_the_budget():
    """Its wait comes from Retry-After in the backoff strategy; the budget must not add a minute."""
    budget = FreshchatAPIBudget(requests_per_minute=None)
    budget.update_from_response(request(), response(status=429))
    assert timed_acquire(budget) == 0


@pytest.mark.parametrize("reset", ["not-a-number", ""])
def test_unreadable_headers_are_ignored(reset):
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining="lots", reset=reset))
    assert timed_acquire(budget) == 0


def test_reset_given_as_seconds_from_now_is_understood():
    budget = FreshchatAPIBudget(requests_per_minute=None)
    assert budget.get_reset_ts_from_response(response(reset=30)).timestamp() == pytest.approx(time.time() + 30, abs=2)


def test_requests_per_minute_caps_the_rate():
    budget = FreshchatAPIBudget(requests_per_minute=3)
    assert sum(timed_acquire(budget) for _ in range(3)) == 0
    with pytest.raises(Exception):
        budget.acquire_call(request(), block=False)  # the fourth call in the minute must wait


# FreshchatWindows on a made-up clock: a window of 100 calls that lasts 5 s and is opened by a request sent at 100.3 s.
LIMIT, OPENED, ROUND_TRIP = 100, 100.3, 0.02
RESET = 106  # ceil(100.32 + 5): Freshchat's reset, rounded up to the whole second
ALLOWANCE = LIMIT - FreshchatWindows.margin(LIMIT)


def learned_window() -> FreshchatWindows:
    windows = FreshchatWindows()
    assert windows.reserve(OPENED) == 0
    windows.observe(OPENED, OPENED + ROUND_TRIP, 200, LIMIT, LIMIT - 1, RESET)
    return windows


def test_the_first_request_of_a_window_teaches_its_length_to_the_round_trip():
    # Sent at 100.3 and reset at 106: at most 5.7 s; answered at 100.32 and reset at 106: more than 4.68 s; so 5 s.
    assert learned_window().horizon == pytest.approx(5 + ROUND_TRIP)


def test_a_window_is_used_to_its_end_and_not_beyond():
    windows = learned_window()
    assert all(windows.reserve(OPENED + 0.01) == 0 for _ in range(ALLOWANCE - 1))
    wait = windows.reserve(OPENED + 0.01)
    assert wait == pytest.approx(5 + ROUND_TRIP - 0.01)  # until the window has ended, well before the reset at 106
    assert OPENED + 0.01 + wait < RESET - 0.5
    # that call is booked for the moment this window has ended; the next one for when the second-oldest call is that old
    assert windows.reserve(OPENED + 5 + ROUND_TRIP) == pytest.approx(0.01)


def test_sends_spread_over_time_never_put_more_than_the_limit_in_any_window():
    windows = learned_window()
    sent = [OPENED]
    now = OPENED
    while len(sent) < 5 * LIMIT:
        now += 0.013  # a call asked for every 13 ms; each goes when its booked moment comes
        sent.append(now + windows.reserve(now))
    most_in_a_window = max(sum(1 for moment in sent if start <= moment < start + 5) for start in sent)
    assert ALLOWANCE - 1 <= most_in_a_window <= ALLOWANCE


def test_two_whole_seconds_within_the_bounds_keep_the_upper_bound():
    windows = FreshchatWindows()
    windows.reserve(100.0)
    windows.observe(100.0, 100.02, 200, LIMIT, LIMIT - 1, 105)  # between 3.98 s and 5 s: 4 or 5
    assert windows.horizon == 5.0


def test_a_429_while_pacing_by_whole_seconds_falls_back_to_the_upper_bound(caplog):
    windows = learned_window()
    windows.observe(OPENED + 5.1, OPENED + 5.12, 429, LIMIT, 0, RESET)
    assert windows.horizon == pytest.approx(RESET - OPENED)
    assert "Freshchat refused a paced request (HTTP 429): pacing its windows over 5.70s from now on" in caplog.messages


def test_further_429s_widen_the_upper_bound_for_a_clock_behind_ours():
    windows = learned_window()
    windows.observe(OPENED + 5.1, OPENED + 5.12, 429, LIMIT, 0, RESET)
    windows.observe(OPENED + 5.2, OPENED + 5.22, 429, LIMIT, 0, RESET)
    assert windows.horizon == pytest.approx(RESET - OPENED + 0.25)  # a quarter second more at each further 429


def test_no_pacing_before_a_window_is_seen_opening():
    windows = FreshchatWindows()
    windows.observe(100.0, 100.02, 200, LIMIT, 40, RESET)  # a sync that starts mid-window
    assert all(windows.reserve(100.1) == 0 for _ in range(3 * LIMIT))


def test_a_window_spent_by_another_client_holds_requests_until_it_has_ended():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 0, RESET)
    assert windows.reserve(OPENED + 1.1) == pytest.approx(5 + ROUND_TRIP - 1.1 + ROUND_TRIP)
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 30, RESET - 5)  # a late answer from an older window changes nothing
    assert windows.reserve(OPENED + 1.1) > 0
    windows.observe(OPENED + 6, OPENED + 6.02, 200, LIMIT, 60, RESET + 6)  # a newer window, not spent
    assert windows.reserve(OPENED + 6.1) == 0


@pytest.mark.parametrize("limit,margin", [(1, 1), (50, 1), (100, 1), (101, 2), (500, 5), (1000, 10)])
def test_a_window_keeps_one_percent_of_its_calls_and_at_least_one_in_reserve(limit, margin):
    assert FreshchatWindows.margin(limit) == margin


def test_the_learned_pacing_is_logged_again_only_when_it_moves_more_than_50_ms(caplog):
    windows = learned_window()  # 5 s plus a 20 ms round trip
    for window, round_trip in ((1, 0.09), (2, 0.12)):  # later windows, opened by requests slower by 70 ms, then 30 ms more
        sent = OPENED + 5.1 * window
        windows.reserve(sent)
        windows.observe(sent, sent + round_trip, 200, LIMIT, LIMIT - 1, RESET + 5 * window)
    assert [message.rsplit(" ", 1)[1] for message in caplog.messages if "pacing them over" in message] == ["5.02s", "5.09s"]


def test_a_one_second_window_is_learned_as_one_second_too():
    windows = FreshchatWindows()
    windows.reserve(100.3)
    windows.observe(100.3, 100.32, 200, LIMIT, LIMIT - 1, 102)  # between 0.68 s and 1.7 s: 1 s
    assert windows.horizon == pytest.approx(1 + ROUND_TRIP)


def test_a_429_while_already_pacing_by_the_upper_bound_widens_it_at_once():
    windows = FreshchatWindows()
    windows.reserve(100.0)
    windows.observe(100.0, 100.02, 200, LIMIT, LIMIT - 1, 105)  # 4 or 5 s: paced by the upper bound, 5 s
    windows.observe(105.1, 105.12, 429, LIMIT, 0, 106)
    assert windows.horizon == pytest.approx(5.25)


@pytest.mark.parametrize("remaining,reset_in", [(None, 5), (40, None)])
def test_a_response_with_only_one_of_the_rate_limit_headers_is_ignored(remaining, reset_in):
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=remaining, reset=None if reset_in is None else time.time() + reset_in))
    assert timed_acquire(budget) == 0


def test_a_response_without_the_limit_header_keeps_the_pacing_learned():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, None, 50, RESET)
    assert all(windows.reserve(OPENED + 1.1) == 0 for _ in range(ALLOWANCE - 1))
    assert windows.reserve(OPENED + 1.1) > 0


def test_a_window_of_two_calls_sends_one_and_keeps_one_in_reserve():
    windows = FreshchatWindows()
    windows.reserve(100.3)
    windows.observe(100.3, 100.32, 200, 2, 1, 106)
    assert windows.reserve(100.4) == pytest.approx(5 + ROUND_TRIP - 0.1)  # the opening call was the window's one


def test_a_request_that_must_not_wait_is_refused_with_the_wait_it_would_need():
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=0, reset=time.time() + 30))
    with pytest.raises(CallRateLimitHit) as refused:
        budget.acquire_call(request(), block=False)
    assert 25 < refused.value.time_to_wait.total_seconds() <= 31 and budget.waits == 0


def test_a_window_with_one_call_left_is_not_spent():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 1, RESET)  # another client used all but one call
    assert windows.reserve(OPENED + 1.1) == 0


def test_a_response_to_a_request_the_budget_never_sent_is_ignored():
    budget = FreshchatAPIBudget(requests_per_minute=None)
    opening = response(remaining=LIMIT - 1, reset=time.time() + 5)
    opening.headers["X-RateLimit-Limit"] = str(LIMIT)
    budget.update_from_response(request(), opening)  # e.g. a retry's response, or one the CDK sent around the budget
    assert timed_acquire(budget) == 0 and budget.windows.horizon is None
