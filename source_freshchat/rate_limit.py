"""Freshchat's rate limit: how long to wait before a retry, and the budget that paces requests before a 429.

The CDK does not read `Retry-After` by itself, and Freshchat may send it, `X-RateLimit-Reset`
(Unix time when the window resets), both, or neither on a 429.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import requests
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit, HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

MAX_WAIT_SECONDS = 600.0
BASE_WAIT_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.1
WINDOW = timedelta(minutes=1)
# Share of a window's calls left unused, for requests that overtake each other on the way to the server.
MARGIN_SHARE = 0.01
# The clock the budget paces requests by, apart from the one retries wait by, so a test can make pacing virtual.
PACING_CLOCK: Any = time
CLOCK_ALLOWANCE_SECONDS = 0.25  # more slack around every window's end each time the answers fit no reading
ANSWER_WAIT_SECONDS = 0.05  # the longest a request waits for an answer that may let it go before it asks again
LOST_AFTER_SECONDS = 5.0  # a request unanswered this long is taken as lost: it counts against no window, and another may probe
LATER_PROBES_SHARE = 0.5  # until the rounding is known, the share of a window's probes kept again for the second after its reset
PROBE_RESOLUTION_SECONDS = 0.05  # a window's end known this closely is not worth another probe
KEPT_WINDOWS = 3  # the current window (always the latest reset) and the two before it, for late answers
PACING_LOG_SECONDS = 1.0

logger = logging.getLogger("airbyte")


def seconds_until_retry(response: requests.Response, now: Optional[float] = None) -> Optional[float]:
    """Seconds the server asks us to wait, from `Retry-After` or `X-RateLimit-Reset`; None when it says nothing."""
    now = time.time() if now is None else now
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return None


class FreshchatBackoffStrategy(BackoffStrategy):
    """429s wait as the server asks; everything else keeps the CDK's exponential backoff (1, 2, 4 ... s), whose logs name the error."""

    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int,
    ) -> Optional[float]:
        if not (isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429):
            return None
        asked = seconds_until_retry(response_or_exception)
        exponential = min(MAX_WAIT_SECONDS, BASE_WAIT_SECONDS * 2 ** max(0, attempt_count - 1))
        # never 0: the CDK reads a zero wait as "no advice" and falls back to its own retry loop
        wait = exponential if asked is None else min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, asked))
        logger.info(
            f"Rate limited by Freshchat on attempt {attempt_count}; waiting {wait:.1f}s "
            f"(Retry-After={response_or_exception.headers.get('Retry-After')}, "
            f"X-RateLimit-Reset={response_or_exception.headers.get('X-RateLimit-Reset')})"
        )
        return wait


class Turn(NamedTuple):
    """When a request may go: `wait` seconds from now, 0 meaning at once (and booked); `on_answer`: an answer may come sooner."""

    wait: float
    on_answer: bool = False
    number: int = 0  # the booked request's number, to match its answer


@dataclass
class _Window:
    """One of Freshchat's windows, known by its `X-RateLimit-Reset`, as our requests saw it (times are ours, Unix seconds)."""

    reset: float
    first_sent: float  # no later than its opening, when one of our requests opened it
    first_answered: float  # no earlier than its opening
    last_sent: float  # it had not ended when this request was sent
    calls: int  # by its latest answer, it takes `calls` less the requests booked so far, at least
    most_remaining: int
    least_remaining: int  # what it takes once every request sent has been answered
    least_calls: int  # `calls` by the answer that said `least_remaining`
    seen_opening: bool = False  # its opening fell between two of our requests: its length may be learned from it


@dataclass
class _Reading:
    """One way Freshchat may count its windows, with the window's length as bounded so far (for windows opened by a request)."""

    opens: str  # "first_request": at the first request after the last window ended; "clock": on multiples of its length
    rounding: str  # how X-RateLimit-Reset rounds the window's end: "up" or "down"
    shortest: float = 0.0
    longest: float = math.inf

    def end(self, window: _Window, slack: float) -> Tuple[float, float]:
        """The earliest and the latest moment the window may end, were this reading the right one."""
        low, high = (window.reset - 1, window.reset) if self.rounding == "up" else (window.reset, window.reset + 1)
        low, high = max(low - slack, window.last_sent), high + slack
        if self.opens == "first_request":
            low, high = max(low, window.first_sent + self.shortest), min(high, window.first_answered + self.longest)
        return low, high

    def learn_length(self, window: _Window, ended_by: float, slack: float) -> None:
        """`window` opened between its first sent request and its first answer, and ended after its last send and by `ended_by`."""
        low, high = (window.reset - 1, window.reset) if self.rounding == "up" else (window.reset, window.reset + 1)
        earliest_end, latest_end = max(low - slack, window.last_sent), min(high + slack, ended_by)
        self.shortest = max(self.shortest, earliest_end - window.first_answered)
        self.longest = min(self.longest, latest_end - window.first_sent)

    @property
    def text(self) -> str:
        opens = "open at the first request after the last one" if self.opens == "first_request" else "open on the clock"
        length = f", {self.shortest:.2f}-{self.longest:.2f}s long" if self.opens == "first_request" and self.longest < math.inf else ""
        return f"{opens}, reset rounded {self.rounding}{length}"


READINGS = tuple((opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down"))


class FreshchatWindows:
    """What a sync has learned of Freshchat's fixed windows, and when the next request may go. Thread-safe.

    Freshchat does not document when a window opens (at the first request after the last one ended,
    or on the clock's multiples of its length) nor how `X-RateLimit-Reset` rounds its end (up or
    down), and its length need not be whole seconds. So the four readings start alive, and each
    response removes those it contradicts: a window had not ended when a request answered in it was
    sent, and had ended when a request answered in the next one arrived. Where a window opens at a
    request, a reading also narrows the window's length, from the windows seen opening.

    A request goes while the current window has more than `margin` calls left, and one more: by its
    answers' `X-RateLimit-Remaining`, less the requests sent since and those sent before and not
    answered yet, which may reach Freshchat after (the margin absorbs the rest of such reordering).
    Then requests wait for the window's end. The calls kept back go as probes, one at a time, spread
    over the time the live reading that has the window end first allows (the first one a call's share
    of that time after its earliest end): a probe that comes too early costs a call and no 429, and
    each answer rules readings out or narrows the window's length. The others wait for the probe's
    answer, or at the latest until every live reading has the window ended; the window after it is
    taken to allow as much as this one did until an answer from it says otherwise. While either rounding
    may hold and the sync has seen no window end, a window keeps half as many probes again for the
    second after its reset, so that a reset rounded down does not wait that second out. Should every
    reading be contradicted (a clock behind ours, another client opening windows), all four start
    again with a quarter second more slack around each end.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # `answered` waits under it, around `reserve`
        self.answered = threading.Condition(self._lock)
        self.limit: Optional[int] = None
        self._readings: List[_Reading] = [_Reading(*reading) for reading in READINGS]
        self._slack = 0.0
        self._windows: Dict[float, _Window] = {}  # by reset: the current window and the few before it
        self._current: Optional[_Window] = None
        self._booked = 0  # requests let go so far; a request's number is the count when it went
        self._beyond_from: Optional[int] = None  # the requests booked before the current window had ended for every reading
        self._unanswered: Dict[int, float] = {}  # number -> when it went, for requests not answered yet
        self._probe: Optional[Tuple[int, float]] = None  # (number, sent) of the request testing the earliest end
        self._described = ""
        self._ends_seen = 0  # windows seen ending since the readings last started

    @staticmethod
    def margin(limit: int) -> int:
        return max(1, math.ceil(limit * MARGIN_SHARE))

    @property
    def readings(self) -> List[str]:
        """The readings still alive, as text."""
        return [reading.text for reading in self._readings]

    def ends(self) -> Optional[Tuple[float, float]]:
        """When the current window ends, at the latest: for the live reading that has it end first, and for all; None before any."""
        if self._current is None:
            return None
        latest = [reading.end(self._current, self._slack)[1] for reading in self._readings]
        return min(latest), max(latest)

    def reserve(self, now: float, book: bool = True) -> Turn:
        """When a request may go; at `now` it is booked at once (with `book=False` nothing is booked)."""
        with self._lock:
            turn = self._turn(now, book)
            if book and not turn.wait:
                self._booked += 1
                self._unanswered[self._booked] = now
                return turn._replace(number=self._booked)
            return turn

    def _turn(self, now: float, book: bool) -> Turn:
        window = self._current
        if window is None:
            return Turn(0.0)  # nothing learned yet: the first answers teach the limit
        certain = self.ends()[1]
        if now >= certain:  # ended for every reading: a window no answer has shown yet, as large as the last one
            self._beyond_from = self._booked if self._beyond_from is None else self._beyond_from
            in_flight = sum(1 for number in self._unanswered if number > self._beyond_from)  # lost ones drop out in time
            if in_flight < max(1, min(window.most_remaining + 1, self.limit or math.inf) - self.margin(self.limit or 1)):
                return Turn(0.0)
            return Turn(ANSWER_WAIT_SECONDS, on_answer=True)
        spare = window.calls - self._booked if self._unanswered else window.least_remaining
        if spare > sum(self._kept_for_probes(window)):
            return Turn(0.0)
        if self._probe and now - self._probe[1] > LOST_AFTER_SECONDS:
            self._probe = None  # unanswered (its request failed): the next one probes
        if spare >= 1 and self._probe is None:
            probe_at = self._probe_time(spare)
            if now >= probe_at:
                self._probe = (self._booked + 1, now) if book else None
                return Turn(0.0)
            return Turn(probe_at - now)
        return Turn(certain - now, on_answer=self._probe is not None)

    def _kept_for_probes(self, window: _Window) -> Tuple[int, int]:
        """The calls a window keeps back for probes: for the end they test first, and for the second after the reset."""
        first = self.margin(self.limit or window.most_remaining + 1) + 1  # and one more, for a probe that may come too early
        if self._ends_seen or len({reading.rounding for reading in self._readings}) < 2:
            return first, 0
        # Either rounding may hold, and the probes test the second before the reset first: had they spent every call there, a
        # reset rounded down would wait out the second after it. A single probe there would go at its end: no sooner than waiting.
        return first, max(2, math.ceil(first * LATER_PROBES_SHARE))

    def _probe_time(self, spare: int) -> float:
        """When to test whether the current window has ended: between the earliest and the latest end of the live reading that
        has it end first, as early as the calls to spare for it allow (each probe that comes too early costs one, and no 429)."""
        low, high = min((reading.end(self._current, self._slack) for reading in self._readings), key=lambda end: end[1])
        share = max(1, spare - self._kept_for_probes(self._current)[1])
        return low + (high - low) / share if high - low > PROBE_RESOLUTION_SECONDS else high

    def observe(
        self,
        sent: float,
        answered: float,
        status: int,
        limit: Optional[int],
        remaining: Optional[int],
        reset: Optional[float],
        number: Optional[int] = None,
    ) -> None:
        """Learns from one response to the request booked as `number`, sent at `sent` and answered at `answered` (Unix time)."""
        if reset is None or remaining is None:
            return
        with self._lock:
            number = self._booked if number is None else number
            self._unanswered.pop(number, None)
            self._unanswered = {other: at for other, at in self._unanswered.items() if at > answered - LOST_AFTER_SECONDS}
            # Requests sent before this one and not answered yet may reach Freshchat after it: not counted in `remaining`.
            overtaken = sum(1 for earlier in self._unanswered if earlier < number)
            calls = remaining + number - overtaken
            window = self._windows.get(reset)
            if window is None or (limit and self.limit and limit != self.limit):  # a new limit: the window's count starts again
                window = self._windows[reset] = _Window(reset, sent, answered, sent, calls, remaining, remaining, calls)
                if self._current is not None and self._current.reset == reset:
                    self._current = window
            if limit:
                self.limit = limit
            window.first_sent, window.first_answered = min(window.first_sent, sent), min(window.first_answered, answered)
            window.last_sent, window.most_remaining = max(window.last_sent, sent), max(window.most_remaining, remaining)
            # By the latest answer (it counts what other clients spent meanwhile), and by the one that arrived last, saying least.
            if remaining < window.least_remaining:
                window.least_remaining, window.least_calls = remaining, calls
            elif remaining == window.least_remaining:
                window.least_calls = min(window.least_calls, calls)
            window.calls = min(calls, window.least_calls)
            # The window's first call: where windows open at a request, this one opened it, after `first_sent` and before every
            # answer in the window, whichever of the first requests was answered first.
            window.seen_opening = window.seen_opening or remaining + 1 == self.limit
            self._keep(lambda reading: reading.end(window, self._slack)[1] > sent)  # it had not ended when this request went
            current = self._current
            if window is not current and (current is None or reset > current.reset or sent >= self.ends()[1]):
                self._move_to(window, answered)
            if self._probe and self._probe[0] == number:
                self._probe = None
            if status == 429:
                logger.info(f"Freshchat refused a paced request (HTTP 429): its windows {self._describe()}")
            self._log_if_changed()
            self.answered.notify_all()

    def _move_to(self, window: _Window, answered: float) -> None:
        """`window` follows the current one, which therefore ended by `answered`."""
        previous = self._current
        if previous is not None:
            self._ends_seen += 1
            self._keep(lambda reading: reading.end(previous, self._slack)[0] <= answered)
            window.seen_opening = True
            if previous.seen_opening:
                for reading in self._readings:
                    if reading.opens == "first_request":
                        reading.learn_length(previous, answered, self._slack)
                self._keep(lambda reading: reading.shortest <= reading.longest)
        self._current, self._beyond_from, self._probe = window, None, None
        self._windows = dict(sorted(self._windows.items())[-KEPT_WINDOWS:])

    def _keep(self, holds: Callable[[_Reading], bool]) -> None:
        """Drops the readings a fact contradicts; when none is left, all start again with more slack."""
        self._readings = [reading for reading in self._readings if holds(reading)]
        if not self._readings:
            self._slack += CLOCK_ALLOWANCE_SECONDS
            self._ends_seen = 0
            self._readings = [_Reading(*reading) for reading in READINGS]
            for window in self._windows.values():
                window.seen_opening = False
            logger.info(f"Freshchat's windows fit none of the readings; starting again with {self._slack:.2f}s of slack")

    def _describe(self) -> str:
        return "; or ".join(self.readings)

    def _log_if_changed(self) -> None:
        described = self._describe()
        if self.limit and described != self._described:
            self._described = described
            logger.info(f"Freshchat's rate limit: {self.limit} requests per window; its windows {described}")


class FreshchatAPIBudget(HttpAPIBudget):
    """One call budget per sync, shared by every stream: Freshchat limits the account, not an endpoint.

    Freshchat's windows (`FreshchatWindows`) pace the requests; `requests_per_minute` adds a
    moving-window cap of our own, for accounts that share their limit with other tools.
    """

    def __init__(self, requests_per_minute: Optional[int]) -> None:
        super().__init__(
            ratelimit_reset_header="X-RateLimit-Reset",
            ratelimit_remaining_header="X-RateLimit-Remaining",
            status_codes_for_ratelimit_hit=[],  # a 429's wait comes from its own headers, in FreshchatBackoffStrategy
            policies=[],
        )
        self.windows = FreshchatWindows()
        self._own_cap = (
            MovingWindowCallRatePolicy(rates=[Rate(limit=requests_per_minute, interval=WINDOW)], matchers=[])
            if requests_per_minute
            else None
        )
        self._sent: Dict[int, Tuple[float, int]] = {}  # id of a request in flight -> when it was sent, and its number
        self._sent_lock = threading.Lock()
        self.waits = 0  # requests held back
        self.waited_seconds = 0.0  # the time they spent held back, summed over threads

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        started = PACING_CLOCK.monotonic()
        if self._own_cap:
            self._do_acquire(request=request, policy=self._own_cap, block=block, timeout=timeout)
        turn, held = self._wait_for_turn(request, block)
        waited = PACING_CLOCK.monotonic() - started
        with self._sent_lock:
            self._sent[id(request)] = (PACING_CLOCK.time(), turn.number)
            if held:
                self.waits += 1
                self.waited_seconds += waited
        if waited >= PACING_LOG_SECONDS:
            logger.info(f"Paced by Freshchat's rate limit: waited {waited:.1f}s for the window to refill")

    def _wait_for_turn(self, request: Any, block: bool) -> Tuple[Turn, bool]:
        """The booked turn, and whether the request was held back for it."""
        held = False
        while True:
            with self.windows.answered:
                turn = self.windows.reserve(PACING_CLOCK.time(), book=block)
                if not turn.wait:
                    return turn, held
                if not block:
                    raise CallRateLimitHit(
                        error="Freshchat's window is spent", item=request, weight=1, rate="", time_to_wait=timedelta(seconds=turn.wait)
                    )
                held = True
                if turn.on_answer:  # under the same lock as the check, so no answer slips between them
                    self.windows.answered.wait(min(turn.wait, ANSWER_WAIT_SECONDS))
                    continue
            PACING_CLOCK.sleep(turn.wait)

    def waits_text(self) -> str:
        return f"{self.waits:,} rate-limit waits ({self.waited_seconds:.1f}s summed over workers)"

    def update_from_response(self, request: Any, response: Any) -> None:
        with self._sent_lock:
            booked = self._sent.pop(id(request), None)
        if booked is None or not isinstance(response, requests.Response):
            return
        sent, number = booked
        reset = self.get_reset_ts_from_response(response)
        self.windows.observe(
            sent,
            PACING_CLOCK.time(),
            response.status_code,
            _header_int(response, "X-RateLimit-Limit"),
            _header_int(response, "X-RateLimit-Remaining"),
            reset.timestamp() if reset else None,
            number,
        )

    def get_reset_ts_from_response(self, response: requests.Response) -> Optional[datetime]:
        raw = response.headers.get("X-RateLimit-Reset")
        try:
            value = float(raw) if raw else None
        except ValueError:
            return None
        if value is None:
            return None
        # Freshchat sends Unix time; a small number can only mean "seconds from now".
        return datetime.fromtimestamp(value) if value > 1e9 else datetime.now() + timedelta(seconds=value)


def _header_int(response: requests.Response, name: str) -> Optional[int]:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
