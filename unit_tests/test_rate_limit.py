import time

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit

from source_freshchat.rate_limit import FreshchatAPIBudget


@pytest.fixture
def no_sleep():
    """This module measures real waits, so the suite-wide sleep patch is off here."""
    return None


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
    started = time.monotonic()
    budget.acquire_call(request())
    return time.monotonic() - started


def test_requests_wait_for_the_window_once_remaining_calls_are_in_flight(caplog):
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=2)
    budget.update_from_response(request(), response(remaining=3, reset=time.time() + 1.2))
    assert timed_acquire(budget) < 0.1  # one call left beyond the two that may be in flight
    waited = timed_acquire(budget)
    assert 0.5 < waited < 5
    assert any("Paced by Freshchat's rate limit" in message for message in caplog.messages)


def test_plenty_of_remaining_calls_never_wait():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=8)
    budget.update_from_response(request(), response(remaining=500, reset=time.time() + 60))
    assert sum(timed_acquire(budget) for _ in range(50)) < 0.5


def test_a_429_alone_does_not_block_the_budget():
    """Its wait comes from Retry-After in the backoff strategy; the budget must not add a minute."""
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=1)
    budget.update_from_response(request(), response(status=429))
    assert timed_acquire(budget) < 0.1


@pytest.mark.parametrize("reset", ["not-a-number", ""])
def test_unreadable_headers_are_ignored(reset):
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=1)
    budget.update_from_response(request(), response(remaining="lots", reset=reset))
    assert timed_acquire(budget) < 0.1


def test_reset_given_as_seconds_from_now_is_understood():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    assert budget.get_reset_ts_from_response(response(reset=30)).timestamp() == pytest.approx(time.time() + 30, abs=2)


def test_requests_per_minute_caps_the_rate():
    budget = FreshchatAPIBudget(requests_per_minute=3, in_flight=0)
    assert sum(timed_acquire(budget) for _ in range(3)) < 0.1
    with pytest.raises(Exception):
        budget.acquire_call(request(), block=False)  # the fourth call in the minute must wait


def test_a_new_window_announced_early_starts_with_the_servers_count():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    now = time.time()
    budget.update_from_response(request(), response(remaining=1, reset=now + 30))  # nearly spent window
    budget.update_from_response(request(), response(remaining=500, reset=now + 35))  # the next one, refilled
    assert sum(timed_acquire(budget) for _ in range(20)) < 0.5


def test_a_late_answer_from_an_older_window_is_ignored():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    now = time.time()
    budget.update_from_response(request(), response(remaining=500, reset=now + 35))
    budget.update_from_response(request(), response(remaining=0, reset=now + 30))
    assert timed_acquire(budget) < 0.1


def test_after_a_window_ends_the_next_response_sets_the_new_one():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    now = time.time()
    budget.update_from_response(request(), response(remaining=500, reset=now - 1))  # a window that has just ended
    budget.acquire_call(request())  # rolls over on its own clock
    budget.update_from_response(request(), response(remaining=0, reset=now + 1.2))  # the new window, already spent
    assert timed_acquire(budget) > 0.5


def test_a_reset_time_already_past_does_not_hold_requests_back():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    budget.update_from_response(request(), response(remaining=0, reset=time.time() - 5))
    budget.acquire_call(request(), block=False)  # the window it announced is over


def test_within_one_window_a_lower_count_applies():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    reset = time.time() + 30
    budget.update_from_response(request(), response(remaining=500, reset=reset))
    budget.update_from_response(request(), response(remaining=0, reset=reset))
    with pytest.raises(CallRateLimitHit):
        budget.acquire_call(request(), block=False)


def test_within_one_window_a_higher_count_from_a_late_answer_does_not_refill_it():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    reset = time.time() + 30
    budget.update_from_response(request(), response(remaining=0, reset=reset))
    budget.update_from_response(request(), response(remaining=500, reset=reset))
    with pytest.raises(CallRateLimitHit):
        budget.acquire_call(request(), block=False)


def test_after_a_window_ends_a_count_without_a_reset_does_not_hide_the_next_window():
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    now = time.time()
    budget.update_from_response(request(), response(remaining=500, reset=now - 1))  # Freshchat's window, already over
    budget.update_from_response(request(), response(remaining=0))  # spent, and no word on when it refills
    budget.update_from_response(request(), response(remaining=500, reset=now + 5))  # the next window, refilled
    budget.acquire_call(request(), block=False)


def test_requests_that_did_not_wait_are_not_logged_as_paced(caplog):
    budget = FreshchatAPIBudget(requests_per_minute=None, in_flight=0)
    for _ in range(3):
        budget.acquire_call(request())
    assert not any("Paced" in message for message in caplog.messages)
