import math
import threading
import time
from typing import List

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


def spent_budget(clock: PacingClock, reset_in: float) -> FreshchatAPIBudget:
    """A budget whose one answer says the window is spent and resets in `reset_in` seconds."""
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=0, reset=clock.time() + reset_in))
    return budget


def paced_lines(caplog) -> List[str]:
    return [message for message in caplog.messages if message.startswith("Paced by Freshchat's rate limit")]


def test_a_spent_window_holds_requests_until_it_ends_and_the_wait_is_logged(caplog, pacing_clock):
    budget = spent_budget(pacing_clock, 1.2)
    waited = timed_acquire(budget)
    # Until the reset, plus the second a reset rounded down may hide while the rounding is unknown.
    assert waited == pytest.approx(2.2, abs=1e-3) and budget.waited_seconds == waited
    assert budget.waits_text().startswith("1 rate-limit waits (")
    paced = [float(m.split("waited ")[1].split("s ")[0]) for m in paced_lines(caplog)]
    assert len(paced) == 1 and paced[0] >= 1.0  # the held request only: waits under a second are not worth a line


def test_a_wait_of_a_second_and_a_half_is_logged(caplog, pacing_clock):
    """Waits from a second up are worth a line, not only the long ones."""
    assert timed_acquire(spent_budget(pacing_clock, 0.5)) == pytest.approx(1.5, abs=1e-3)
    assert paced_lines(caplog) == ["Paced by Freshchat's rate limit: waited 1.5s for the window to refill"]


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
FREE = LIMIT - FreshchatWindows.margin(LIMIT) - 1  # calls that go at once; the last ones are kept for reordering and probes
# Until a window has been seen ending, either rounding may hold: a window also keeps probes for the second after its reset.
KEPT_FOR_LATER = 2
FIRST_FREE = FREE - KEPT_FOR_LATER


def learned_window() -> FreshchatWindows:
    windows = FreshchatWindows()
    assert windows.reserve(OPENED).wait == 0
    windows.observe(OPENED, OPENED + ROUND_TRIP, 200, LIMIT, LIMIT - 1, RESET)
    return windows


def test_until_the_answers_show_a_reading_the_reset_is_uncertain_by_a_second_either_way():
    windows = learned_window()
    assert windows.ends() == (RESET, RESET + 1)  # rounded up, it has ended by the reset; rounded down, a second later
    assert len(windows.readings) == 4
    assert not any("long" in reading for reading in windows.readings)  # no window seen ending yet: nothing known of a length


def spend(windows: FreshchatWindows, count: int, at: float) -> None:
    """`count` requests that go at once at `at`, each answered in the window `learned_window` opened before the next goes."""
    for _ in range(count):
        turn = windows.reserve(at)
        assert turn.wait == 0
        windows.observe(at, at + ROUND_TRIP, 200, LIMIT, LIMIT - turn.number, RESET, number=turn.number)


def test_a_window_is_used_to_its_end_and_then_tested_by_one_probe():
    windows = learned_window()
    assert all(windows.reserve(OPENED + 0.01).wait == 0 for _ in range(FIRST_FREE - 1))
    wait = windows.reserve(OPENED + 0.01)
    assert wait.wait == pytest.approx(RESET - 0.5 - OPENED - 0.01)  # half-way between the earliest and the latest end rounding up allows
    assert not wait.on_answer  # no answer can let it go before the probe's moment: it sleeps rather than asking every 50 ms
    probe = windows.reserve(RESET - 0.5)
    assert probe.wait == 0 and probe.number == FIRST_FREE + 1
    others = windows.reserve(RESET - 0.5)
    assert others.on_answer and others.wait == pytest.approx(1.5)  # for the probe's answer, or until the window has ended anyway


def test_a_probe_answered_in_the_next_window_lets_every_request_go_and_rules_out_a_later_end(caplog):
    windows = learned_window()
    for _ in range(FREE):
        windows.reserve(OPENED + 0.01)
    windows.observe(OPENED + 0.01, OPENED + 0.03, 200, LIMIT, 2, RESET, number=FREE + 1)
    probe = windows.reserve(RESET - 0.5)
    windows.observe(RESET - 0.5, RESET - 0.48, 200, LIMIT, LIMIT - 1, RESET + 5, number=probe.number)
    assert windows.reserve(RESET - 0.47).wait == 0
    assert all("rounded up" in reading for reading in windows.readings)  # rounded down, the window could not have ended yet
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 4.68-5.22s long"
    assert (
        "its windows open at the first request after the last one, reset rounded up, 4.68-5.22s long; or open on the clock" in caplog.text
    )


def test_a_probe_answered_in_the_same_window_rules_out_an_earlier_end_and_the_next_waits_for_the_latest():
    windows = learned_window()
    windows.observe(OPENED + 0.01, OPENED + 0.03, 200, LIMIT, 1, RESET, number=windows.reserve(OPENED + 0.01).number)
    # One call left, kept for the second after the reset too: it probes at the reset, where either rounding may have it end.
    assert windows.reserve(OPENED + 0.04).wait == pytest.approx(RESET - OPENED - 0.04)
    windows.observe(RESET, RESET + 0.02, 200, LIMIT, 0, RESET, number=windows.reserve(RESET).number)  # not ended yet
    assert all("rounded down" in reading for reading in windows.readings)
    assert windows.reserve(RESET + 0.05).wait == pytest.approx(0.95)  # none left: until the window has certainly ended


def test_until_a_window_has_been_seen_ending_probes_are_kept_for_the_second_after_the_reset():
    windows = learned_window()
    spend(windows, FIRST_FREE - 1, OPENED + 0.01)  # the learned window's request, and these
    assert windows.reserve(OPENED + 0.02).wait == pytest.approx(RESET - 0.5 - OPENED - 0.02)  # 2 probes before the reset, 2 after
    probe = windows.reserve(RESET - 0.5)
    windows.observe(RESET - 0.5, RESET - 0.48, 200, LIMIT, LIMIT - probe.number, RESET, number=probe.number)
    assert windows.reserve(RESET - 0.47).wait == pytest.approx(0.47)  # the last of the second before: at the reset
    probe = windows.reserve(RESET)
    windows.observe(RESET, RESET + 0.02, 200, LIMIT, LIMIT - probe.number, RESET, number=probe.number)
    assert all("rounded down" in reading for reading in windows.readings)
    # Rounded down, the window ends in the second after the reset: the kept probes test it, half-way first.
    assert windows.reserve(RESET + 0.03).wait == pytest.approx(0.47)
    probe = windows.reserve(RESET + 0.5)
    assert probe.wait == 0
    windows.observe(RESET + 0.5, RESET + 0.52, 200, LIMIT, LIMIT - 1, RESET + 5, number=probe.number)  # the next window
    assert windows.reserve(RESET + 0.53).wait == 0


def test_a_larger_window_keeps_half_its_probes_again_for_the_second_after_the_reset():
    """At 1,000 a window: the margin and a probe (11) for the second before the reset, half as many again (6) after it."""
    limit, kept_first = 1000, FreshchatWindows.margin(1000) + 1
    windows = FreshchatWindows()
    assert windows.reserve(OPENED).wait == 0
    windows.observe(OPENED, OPENED + ROUND_TRIP, 200, limit, limit - 1, RESET)
    at = OPENED + 0.03
    assert sum(windows.reserve(at).wait == 0 for _ in range(limit)) == limit - 1 - kept_first - 6


def test_once_a_window_has_been_seen_ending_only_the_probes_for_its_first_end_are_kept():
    windows = learned_window()
    probe = windows.reserve(RESET)
    windows.observe(RESET, RESET + 0.02, 200, LIMIT, LIMIT - 1, RESET + 5, number=probe.number)  # the next window, at the reset
    assert len({reading.split(", reset rounded ")[1][:2] for reading in windows.readings}) == 2  # either rounding still fits
    spend_at = RESET + 0.03
    assert sum(windows.reserve(spend_at).wait == 0 for _ in range(LIMIT)) == FREE - 1


def test_the_window_a_request_opened_teaches_its_length_whichever_answer_came_back_first():
    windows = FreshchatWindows()
    first, second = windows.reserve(OPENED).number, windows.reserve(OPENED).number
    windows.observe(OPENED, OPENED + ROUND_TRIP, 200, LIMIT, LIMIT - 2, RESET, number=second)  # arrived second, came back first
    windows.observe(OPENED, OPENED + 0.03, 200, LIMIT, LIMIT - 1, RESET, number=first)  # the window's first call: it opened it
    windows.observe(105.33, 105.35, 200, LIMIT, LIMIT - 1, RESET + 5, number=windows.reserve(105.33).number)  # the next window
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 4.68-5.05s long"


def test_requests_that_may_overtake_one_another_are_not_counted_in_an_answer():
    windows = learned_window()
    numbers = [windows.reserve(OPENED + 0.01).number for _ in range(10)]  # 2 to 11, all in flight
    windows.observe(OPENED + 0.01, OPENED + 0.05, 200, LIMIT, 90, RESET, number=numbers[-1])  # the last one, answered first
    # 90 calls left once it arrived; the 9 sent before it may arrive after it: 81 left at least, of which 76 go at once
    assert sum(windows.reserve(OPENED + 0.06).wait == 0 for _ in range(90)) == 90 - 9 - (LIMIT - FIRST_FREE)


def test_an_answer_that_arrived_first_but_came_back_last_does_not_count_calls_twice():
    windows = FreshchatWindows()
    numbers = [windows.reserve(100.0).number for _ in range(3)]
    for number, remaining in zip(numbers, (8, 7, 9)):  # the third arrived first and came back last; 7 are left
        windows.observe(100.0, 100.02, 200, 10, remaining, 105, number=number)
    # 7 left; the third, sent after the second, counts against them again: 6 at least, less the margin and the probes
    assert sum(windows.reserve(100.1).wait == 0 for _ in range(10)) == 6 - FreshchatWindows.margin(10) - 1 - KEPT_FOR_LATER


class FakeFreshchat:
    """Freshchat's windows in one of the readings, on a made-up clock: answers what a request arriving at a moment gets."""

    def __init__(self, opens: str, rounding: str, length: float, limit: int, spent_by_others: int = 0):
        self.opens, self.rounding, self.length, self.limit, self.others = opens, rounding, length, limit, spent_by_others
        self.count, self.refused = 0, 0
        self.starts: List[float] = []  # when each window opened
        self.taken: List[int] = []  # our requests each window took

    def arrive(self, moment: float):
        if not self.starts or moment >= self.starts[-1] + self.length:
            self.starts.append(moment if self.opens == "first_request" else math.floor(moment / self.length) * self.length)
            self.taken.append(0)
            self.count = self.others
        self.count += 1
        self.taken[-1] += self.count <= self.limit
        self.refused += self.count > self.limit
        reset = (math.ceil if self.rounding == "up" else math.floor)(self.starts[-1] + self.length)
        return (429 if self.count > self.limit else 200), max(0, self.limit - self.count), reset

    @property
    def pace(self) -> float:
        """Our requests per second until the last window opened, as a share of what the windows allowed us."""
        rate = sum(self.taken[:-1]) / (self.starts[-1] - self.starts[0])
        return rate / ((self.limit - self.others) / self.length)


def paced_sync(server: FakeFreshchat, requests: int, started: float, round_trip: float) -> None:
    """One request at a time, each sent when the windows let it go."""
    windows, now, done = FreshchatWindows(), started, 0
    while done < requests:
        turn = windows.reserve(now)
        if turn.wait:
            now += turn.wait
            continue
        status, remaining, reset = server.arrive(now + round_trip / 2)
        windows.observe(now, now + round_trip, status, server.limit, remaining, reset, number=turn.number)
        now += round_trip
        done += status == 200


READINGS = [(opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down")]


@pytest.mark.parametrize("length,spent_by_others", [(5.0, 0), (4.5, 0), (5.0, 150)], ids=["5s", "4.5s", "another-client"])
@pytest.mark.parametrize("opens,rounding", READINGS, ids=[f"{opens}-{rounding}" for opens, rounding in READINGS])
def test_in_every_reading_a_paced_sync_meets_at_most_two_429s_and_keeps_the_pace(opens, rounding, length, spent_by_others):
    server = FakeFreshchat(opens, rounding, length, 500, spent_by_others)
    paced_sync(server, 6 * (500 - spent_by_others), started=1_000_000.37, round_trip=0.004)  # a sync starts anywhere in a second
    assert server.refused <= 2
    if opens == "first_request":
        assert server.pace >= 0.95, (server.pace, server.starts)
    else:  # every window of the clock from the first request to the last took some
        assert len(server.taken) == round((server.starts[-1] - server.starts[0]) / length) + 1 and all(server.taken)


def test_when_no_reading_fits_the_answers_all_start_again_with_more_slack(caplog):
    windows = learned_window()
    windows.observe(RESET + 1.5, RESET + 1.52, 200, LIMIT, 10, RESET, number=windows.reserve(OPENED + 0.1).number)  # ended by 107 in all
    assert len(windows.readings) == 4 and windows.ends() == (RESET + 0.25, RESET + 1.25)
    assert "Freshchat's windows fit none of the readings; starting again with 0.25s of slack" in caplog.messages


def test_a_429_says_what_the_connector_has_learned(caplog):
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 429, LIMIT, 0, RESET)
    assert caplog.messages[-1].startswith("Freshchat refused a paced request (HTTP 429): its windows open at the first request after")


def test_a_sync_that_starts_mid_window_spends_what_the_window_has_left():
    windows = FreshchatWindows()
    windows.observe(100.0, 100.02, 200, LIMIT, 40, RESET)  # another client opened this window
    assert sum(windows.reserve(100.1).wait == 0 for _ in range(3 * LIMIT)) == 40 - (LIMIT - FIRST_FREE)


def test_a_window_spent_by_another_client_holds_requests_until_it_has_ended():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 0, RESET)
    assert windows.reserve(OPENED + 1.1).wait == pytest.approx(RESET + 1 - OPENED - 1.1)  # rounded down, it ends up to 107
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 30, RESET - 5)  # a late answer from an older window changes nothing
    assert windows.reserve(OPENED + 1.1).wait > 0
    windows.observe(OPENED + 6, OPENED + 6.02, 200, LIMIT, 60, RESET + 6)  # a newer window, not spent
    assert windows.reserve(OPENED + 6.1).wait == 0


@pytest.mark.parametrize("limit,margin", [(1, 1), (50, 1), (100, 1), (101, 2), (500, 5), (1000, 10)])
def test_a_window_keeps_one_percent_of_its_calls_and_at_least_one_in_reserve(limit, margin):
    assert FreshchatWindows.margin(limit) == margin


def test_the_readings_are_logged_again_only_when_they_change(caplog):
    windows = learned_window()
    for moment in (OPENED + 0.5, OPENED + 1.0):
        windows.observe(moment, moment + ROUND_TRIP, 200, LIMIT, 50, RESET, number=windows.reserve(moment).number)
    assert len([message for message in caplog.messages if message.startswith("Freshchat's rate limit: 100 requests per window")]) == 1


def test_a_window_seen_opening_and_ending_teaches_its_length_and_rules_out_the_rounding_it_contradicts():
    windows = learned_window()  # opened between 100.3 and 100.32; reset 106
    windows.observe(100.5, 100.52, 200, LIMIT, 50, RESET, number=windows.reserve(100.5).number)
    windows.observe(105.33, 105.35, 200, LIMIT, LIMIT - 1, RESET + 5, number=windows.reserve(105.33).number)  # the next window
    # rounded down, the first window would have ended at 106 or later, yet the next one answered at 105.35
    assert windows.readings == [
        "open at the first request after the last one, reset rounded up, 4.68-5.05s long",
        "open on the clock, reset rounded up",
    ]
    assert windows.ends()[0] == pytest.approx(105.35 + 5.05)


@pytest.mark.parametrize("remaining,reset_in", [(None, 5), (40, None)])
def test_a_response_with_only_one_of_the_rate_limit_headers_is_ignored(remaining, reset_in):
    budget = FreshchatAPIBudget(requests_per_minute=None)
    sent = request()
    budget.acquire_call(sent)
    budget.update_from_response(sent, response(remaining=remaining, reset=None if reset_in is None else time.time() + reset_in))
    assert timed_acquire(budget) == 0


def test_a_response_without_the_limit_header_keeps_the_limit_learned():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, None, 50, RESET)
    assert windows.limit == LIMIT
    assert sum(windows.reserve(OPENED + 1.1).wait == 0 for _ in range(LIMIT)) == 50 - (LIMIT - FIRST_FREE)


def test_a_window_of_two_calls_sends_one_and_keeps_one_for_a_probe_at_its_earliest_end():
    windows = FreshchatWindows()
    windows.reserve(100.3)
    windows.observe(100.3, 100.32, 200, 2, 1, 106)
    assert windows.reserve(100.4).wait == pytest.approx(106 - 100.4)  # the reset, the latest end rounding up allows


def test_a_request_that_must_not_wait_is_refused_with_the_wait_it_would_need(pacing_clock):
    budget = spent_budget(pacing_clock, 30)
    with pytest.raises(CallRateLimitHit) as refused:
        budget.acquire_call(request(), block=False)
    # The reset, plus the second a reset rounded down may hide.
    assert refused.value.time_to_wait.total_seconds() == pytest.approx(31, abs=1e-3) and budget.waits == 0
    assert refused.value.weight == 1  # the one request it would have sent


def test_a_window_with_one_call_left_keeps_it_for_a_probe():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, LIMIT, 1, RESET)  # another client used all but one call
    assert windows.reserve(OPENED + 1.1).wait == pytest.approx(RESET - OPENED - 1.1)
    assert windows.reserve(RESET).wait == 0


def test_a_response_to_a_request_the_budget_never_sent_is_ignored():
    budget = FreshchatAPIBudget(requests_per_minute=None)
    opening = response(remaining=LIMIT - 1, reset=time.time() + 5)
    opening.headers["X-RateLimit-Limit"] = str(LIMIT)
    budget.update_from_response(request(), opening)  # e.g. a retry's response, or one the CDK sent around the budget
    assert timed_acquire(budget) == 0 and budget.windows.ends() is None


def test_a_new_limit_starts_the_count_of_the_window_again():
    windows = learned_window()
    windows.observe(OPENED + 1, OPENED + 1.02, 200, 10, 0, RESET, number=windows.reserve(OPENED + 1).number)  # now 10, all spent
    assert windows.reserve(OPENED + 1.1).wait > 0
    windows.observe(OPENED + 1, OPENED + 1.03, 200, LIMIT, 90, RESET)  # the limit is back to 100, with 90 left
    assert windows.reserve(OPENED + 1.1).wait == 0


def test_once_a_window_has_certainly_ended_as_many_go_as_it_allowed_and_the_rest_ask_again_soon():
    windows = learned_window()
    for _ in range(5):  # sent in the window that ended and never answered: they count against no later window
        windows.reserve(OPENED + 0.01)
    turns = [windows.reserve(RESET + 1) for _ in range(LIMIT)]  # rounded down too, the window has ended by the reset's next second
    # The next window is taken to allow what this one did (100), less the margin, until an answer from it says otherwise.
    assert [turn.wait for turn in turns].count(0) == LIMIT - 1 and turns[-1].wait > 0
    assert turns[-1].on_answer and turns[-1].wait == pytest.approx(0.05)  # an answer may come any moment: asks again in 50 ms


@pytest.mark.parametrize("unanswered_for,overtaking", [(4.5, 1), (5.5, 0)], ids=["in-flight", "lost"])
def test_a_request_unanswered_for_five_seconds_is_lost_and_no_longer_taken_to_overtake_a_later_one(unanswered_for, overtaking):
    windows = FreshchatWindows()
    windows.reserve(100.0)  # never answered
    later = windows.reserve(100.0 + unanswered_for)
    windows.observe(100.0 + unanswered_for, 100.02 + unanswered_for, 200, LIMIT, 50, 200, number=later.number)
    # 50 left once the later request arrived, less those kept back; in flight, the earlier one might still arrive and take one more
    assert sum(windows.reserve(106.0).wait == 0 for _ in range(LIMIT)) == 50 - (LIMIT - FIRST_FREE) - overtaking


@pytest.mark.parametrize("remaining", [40, LIMIT - 2])
def test_a_window_another_client_opened_teaches_no_length(remaining):
    windows = FreshchatWindows()
    windows.observe(100.0, 100.02, 200, LIMIT, remaining, RESET)  # not our request's window: it opened before 100.0, when we cannot tell
    windows.observe(105.5, 105.52, 200, LIMIT, 30, RESET + 5, number=windows.reserve(105.5).number)  # the next window
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up"


def window_seen_ending(reset: float, next_sent: float) -> FreshchatWindows:
    """The window `learned_window`'s request opened, but resetting at `reset`, and an answer from the next one sent at `next_sent`."""
    windows = FreshchatWindows()
    windows.reserve(OPENED)
    windows.observe(OPENED, OPENED + ROUND_TRIP, 200, LIMIT, LIMIT - 1, reset)
    after = windows.reserve(next_sent)
    windows.observe(next_sent, next_sent + ROUND_TRIP, 200, LIMIT, LIMIT - 1, reset + 5, number=after.number)
    return windows


def test_a_window_that_ended_within_a_second_of_opening_is_at_least_no_seconds_long():
    windows = window_seen_ending(reset=101, next_sent=100.9)  # rounded up, it ended from 100.3 (its opening) to 100.92
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 0.00-0.62s long"


def test_a_window_with_its_reset_rounded_down_ended_by_the_second_after_it():
    windows = window_seen_ending(reset=105, next_sent=106.48)  # answered at 106.5, after even the latest end either rounding allows
    assert windows.readings[:2] == [
        "open at the first request after the last one, reset rounded up, 3.68-4.70s long",  # ended from 104 to 105
        "open at the first request after the last one, reset rounded down, 4.68-5.70s long",  # ended from 105 to 106
    ]


@pytest.mark.parametrize(
    "limit,remainings,goes", [(LIMIT, (40,), 40), (LIMIT, (40, 30), 40), (1, (0,), 1)], ids=["40-of-100-left", "then-30", "a-window-of-one"]
)
def test_after_a_window_the_next_is_taken_to_allow_the_most_it_had_left_and_one_call_at_least(limit, remainings, goes):
    windows = FreshchatWindows()
    for remaining in remainings:  # the most it was seen to have left, and the call that saw it: what the next one may allow us
        windows.observe(100.0, 100.02, 200, limit, remaining, RESET)
    turns = [windows.reserve(RESET + 1) for _ in range(LIMIT)]
    assert [turn.wait for turn in turns].count(0) == goes and turns[goes].on_answer


def window_after_a_narrow_length(round_trip: float) -> FreshchatWindows:
    """A window whose length was learned to within a few round trips: opened at 100.3, still open at 105.3, ended by 105.31."""
    windows = FreshchatWindows()
    for sent, remaining, reset in ((OPENED, LIMIT - 1, RESET), (105.3, LIMIT - 2, RESET), (105.31, LIMIT - 1, RESET + 5)):
        turn = windows.reserve(sent)
        windows.observe(sent, sent + round_trip, 200, LIMIT, remaining, reset, number=turn.number)
    return windows


@pytest.mark.parametrize(
    "round_trip,probe_at",
    [(0.01, 110.34), (0.02, 110.29 + 0.07 / 2)],
    ids=["known-to-40ms:at-its-latest-end", "known-to-70ms:half-way"],
)
def test_a_window_whose_end_is_known_to_within_50ms_is_probed_at_its_latest_end(round_trip, probe_at):
    windows = window_after_a_narrow_length(round_trip)
    # The next window opened by 105.31 + round trip and lasts 5.01 + round trip at most, 5.0 - round trip at least (from 105.31)
    assert windows.ends()[0] == pytest.approx(105.31 + round_trip + 5.01 + round_trip)
    turns = [windows.reserve(105.4) for _ in range(LIMIT)]
    waiting = next(turn for turn in turns if turn.wait)  # the window spent but for the margin and the probe
    assert 105.4 + waiting.wait == pytest.approx(probe_at)


def test_a_late_answer_from_the_window_before_the_last_still_rules_out_the_readings_it_contradicts():
    windows = FreshchatWindows()
    for sent, remaining, reset in ((OPENED, LIMIT - 1, RESET), (105.3, LIMIT - 2, RESET), (105.31, LIMIT - 1, RESET + 5)):
        windows.observe(sent, sent + ROUND_TRIP, 200, LIMIT, remaining, reset, number=windows.reserve(sent).number)
    late = windows.reserve(105.5)
    windows.observe(110.4, 110.42, 200, LIMIT, LIMIT - 1, RESET + 10, number=windows.reserve(110.4).number)  # a third window
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 4.98-5.03s long"
    # Answered in the first window, yet sent after 100.32 + 5.03, when that reading has the first window ended
    windows.observe(105.5, 110.5, 200, LIMIT, LIMIT - 3, RESET, number=late.number)
    assert windows.readings == ["open on the clock, reset rounded up"]


@pytest.mark.parametrize("remaining,margin", [(99, 1), (100, 2)])
def test_without_the_limit_header_a_window_is_taken_to_allow_its_remaining_calls_and_one_more(remaining, margin):
    windows = FreshchatWindows()
    windows.observe(100.0, 100.02, 200, None, remaining, RESET)  # the answer's own call, and what it left
    # Kept back: the margin of remaining + 1 calls, a probe for the reset's second before and KEPT_FOR_LATER for the one after
    assert sum(windows.reserve(100.1).wait == 0 for _ in range(2 * remaining)) == remaining - margin - 1 - KEPT_FOR_LATER


def test_a_request_waiting_for_an_answer_is_paced_by_it_as_soon_as_it_comes(pacing_clock, monkeypatch):
    monkeypatch.setattr(rate_limit, "ANSWER_WAIT_SECONDS", 60.0)  # so that only the answer can wake it in time
    budget = FreshchatAPIBudget(requests_per_minute=None)
    first = request()
    budget.acquire_call(first)
    opening = response(remaining=LIMIT - 1, reset=pacing_clock.time() + 5)
    opening.headers["X-RateLimit-Limit"] = str(LIMIT)
    budget.update_from_response(first, opening)
    pacing_clock.now += 7  # the window has certainly ended, and the next is taken to allow 99 calls
    in_flight = [request() for _ in range(LIMIT - 1)]
    for sent in in_flight:
        budget.acquire_call(sent)
    moment = pacing_clock.time()
    answer = response(remaining=LIMIT - 2, reset=moment + 5)  # the next window, with 98 in flight that may fall in it: spent
    answer.headers["X-RateLimit-Limit"] = str(LIMIT)

    def answer_once_it_waits():
        while not budget.windows.answered._waiters:
            pass
        budget.update_from_response(in_flight[0], answer)

    answering = threading.Thread(target=answer_once_it_waits, daemon=True)
    answering.start()
    budget.acquire_call(request())  # on this thread, so that the line tracing of the mutation run sees the wait
    answering.join()
    # Woken by the answer, then paced by what it said, not by the wait it no longer needs: until the next window has certainly ended
    assert pacing_clock.time() - moment == pytest.approx(5 + 1)


def test_when_no_reading_fits_the_probes_are_kept_for_the_second_after_the_reset_again():
    windows = learned_window()
    probe = windows.reserve(RESET)
    windows.observe(RESET, RESET + 0.02, 200, LIMIT, LIMIT - 1, RESET + 5, number=probe.number)  # a window seen ending
    late = windows.reserve(RESET + 0.03)
    # Answered in the window that resets at 111, yet sent at 113, when every reading has it ended
    windows.observe(RESET + 7, RESET + 7.02, 200, LIMIT, LIMIT - 3, RESET + 5, number=late.number)
    assert len(windows.readings) == 4
    # What it learned of the windows ending is gone with the readings: either rounding may hold again
    assert sum(windows.reserve(RESET + 2).wait == 0 for _ in range(LIMIT)) == LIMIT - 3 - (LIMIT - FIRST_FREE)


def test_of_two_answers_saying_the_fewest_calls_left_the_one_counting_fewer_of_ours_binds():
    windows = FreshchatWindows()
    for _ in range(5):
        windows.reserve(100.0)  # 1 to 5; the fifth stays in flight
    for number, remaining in ((2, 60), (3, 50), (1, 50), (4, 60)):
        windows.observe(100.0, 100.02, 200, LIMIT, remaining, RESET, number=number)
    # Both 3 and 1 saw 50 left: 3 with 2 of ours counted (52 calls), 1 with itself alone (51). The tighter count binds, and the
    # later answer saying 60 does not loosen it. Booked 5: 46 spare, less those kept back.
    assert sum(windows.reserve(100.1).wait == 0 for _ in range(LIMIT)) == 50 + 1 - 5 - (LIMIT - FIRST_FREE)


def test_a_request_that_comes_after_the_probes_moment_goes_at_once_as_the_probe():
    windows = learned_window()
    spend(windows, FIRST_FREE - 1, OPENED + 0.01)
    probe = windows.reserve(RESET - 0.4)  # the probe's moment was RESET - 0.5
    assert probe.wait == 0 and probe.number == FIRST_FREE + 1


def test_a_window_that_opened_after_one_seen_ending_teaches_its_length_though_others_spent_in_it():
    windows = FreshchatWindows()
    answers = ((OPENED, LIMIT - 1, RESET), (105.3, LIMIT - 2, RESET), (105.31, 40, RESET + 5), (110.3, 39, RESET + 5))
    for sent, remaining, reset in answers + ((110.31, LIMIT - 1, RESET + 10),):
        windows.observe(sent, sent + ROUND_TRIP, 200, LIMIT, remaining, reset, number=windows.reserve(sent).number)
    # The first window alone bounds the length to 4.98-5.03 s. The second, though its 40 left say others spent in it, opened
    # after the first ended: taken to open from our first request in it (105.31), and ended by 110.33, it was 5.02 s at most.
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 4.98-5.02s long"


def test_a_window_longer_than_the_length_learned_rules_out_the_reading():
    windows = FreshchatWindows()
    for sent, remaining, reset in ((OPENED, LIMIT - 1, RESET), (105.3, LIMIT - 2, RESET), (105.31, LIMIT - 1, RESET + 6)):
        windows.observe(sent, sent + ROUND_TRIP, 200, LIMIT, remaining, reset, number=windows.reserve(sent).number)
    assert windows.readings[0] == "open at the first request after the last one, reset rounded up, 4.98-5.03s long"
    # The second window, opened by 105.33 and reset at 112 rounded up, lasted past 111: longer than 5.03 s
    windows.observe(111.5, 111.52, 200, LIMIT, LIMIT - 1, RESET + 11, number=windows.reserve(111.5).number)
    assert windows.readings == ["open on the clock, reset rounded up"]


def test_an_answer_naming_an_earlier_reset_leaves_the_current_window_until_it_has_ended_for_every_reading():
    windows = learned_window()
    late = windows.reserve(RESET + 0.5)  # rounded down, the window resetting at 106 has not ended yet
    windows.observe(RESET + 0.5, RESET + 0.52, 200, LIMIT, 50, RESET - 1, number=late.number)  # fits no reading: slack 0.25
    assert windows.ends() == (RESET + 0.25, RESET + 1.25)
