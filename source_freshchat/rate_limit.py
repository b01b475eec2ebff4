"""Freshchat's rate limit: how long to wait before a retry, and the budget that paces requests before a 429.

The CDK does not read `Retry-After` by itself, and Freshchat may send it, `X-RateLimit-Reset`
(Unix time when the window resets), both, or neither on a 429.
"""

import logging
import math
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Deque, Dict, Optional, Union

import requests
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit, HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

MAX_WAIT_SECONDS = 600.0
BASE_WAIT_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.1
WINDOW = timedelta(minutes=1)
# Share of a window's calls left unused, for requests that overtake each other on the way to the server.
MARGIN_SHARE = 0.01
LENGTH_LOG_CHANGE_SECONDS = 0.05
# The clock the budget paces requests by, apart from the one retries wait by, so a test can make pacing virtual.
PACING_CLOCK: Any = time
CLOCK_ALLOWANCE_SECONDS = 0.25  # added to the window's length each time a paced request is refused anyway
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


class FreshchatWindows:
    """What a sync has learned of Freshchat's fixed windows, and when the next request may go. Thread-safe.

    A window opens at the first request after the previous one ended and allows `limit` requests;
    `X-RateLimit-Reset` says when it ends, but in whole seconds, rounded up. Waiting for that reset
    after spending a window loses up to a second a window (a fifth of a 5-second window), and
    keeping calls in reserve for requests in flight loses more. Instead, a request goes as long as
    fewer than `limit - margin` requests were sent within the last `horizon` seconds, where `horizon`
    is at least the window's length: no window, wherever it opens, then receives more than `limit`,
    and the next window opens as soon as the last one has ended, not at the next whole second.

    The window's length is learned from each window's first request (its response says `limit - 1`
    remain): it reached the server between its sending and its answer, and the window ended within
    the second before its reset, so `reset - sent` bounds the length from above and
    `reset - 1 - answered` from below. When exactly one whole number of seconds lies between, the
    window is taken to last that long (plus the round trip, to cover where in it the window opened);
    otherwise the upper bound serves. A 429 while pacing so means the window is not a whole number
    of seconds, or Freshchat's clock is behind ours: the upper bound serves from then on, widened a
    little at each further 429. `margin` absorbs requests that reach the server
    in another order than they were sent. Until a first request is seen (a sync that starts
    mid-window), and whenever another client spends the window, a response saying no calls remain
    holds requests until the window has certainly ended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limit: Optional[int] = None
        self._longest = math.inf  # upper bound of the window's length, seconds
        self._shortest = 0.0  # lower bound
        self._round_trip = 0.0  # of the latest window's first request
        self._whole_seconds = True  # until a 429 says otherwise
        self._recent: Deque[float] = deque()  # send times of the last `limit - margin` requests
        self._reset = -math.inf  # the newest window's reset, Unix time
        self._ends_by = -math.inf  # when the newest window has certainly ended
        self._spent = False  # the server said no calls remain in the newest window

    @staticmethod
    def margin(limit: int) -> int:
        return max(1, math.ceil(limit * MARGIN_SHARE))

    @property
    def horizon(self) -> Optional[float]:
        """Seconds after which a sent request no longer counts against the next one; None until learned."""
        if self._longest == math.inf:
            return None
        whole = math.floor(self._longest)
        if self._whole_seconds and self._shortest < whole and whole >= 1 and whole - 1 <= self._shortest:
            return min(self._longest, whole + self._round_trip)
        return self._longest

    def reserve(self, now: float, book: bool = True) -> float:
        """Seconds from `now` until a request may go: 0, or a wait after which it goes without asking again.

        The request's moment is booked at once, so waiting requests take turns instead of all waking
        for each call that frees up; with `book=False` nothing is booked.
        """
        with self._lock:
            slot = max(now, self._recent[-1]) if self._recent else now
            if self._spent and now < self._ends_by:
                slot = max(slot, self._ends_by)
            horizon = self.horizon
            if horizon is not None and self._recent.maxlen and len(self._recent) == self._recent.maxlen:
                slot = max(slot, self._recent[0] + horizon)
            if book:
                self._recent.append(slot)
            return slot - now

    def observe(
        self, sent: float, answered: float, status: int, limit: Optional[int], remaining: Optional[int], reset: Optional[float]
    ) -> None:
        """Learns from one response to a request sent at `sent` and answered at `answered` (Unix time)."""
        if reset is None or remaining is None:
            return
        with self._lock:
            if status == 429 and self.horizon is not None:
                # Paced as learned and still refused: the window is not a whole number of seconds, or Freshchat's clock runs
                # behind ours (its reset is Freshchat's time, our sends are ours). Pace by the upper bound, and widen it.
                if not self._whole_seconds or self.horizon >= self._longest:
                    self._longest += CLOCK_ALLOWANCE_SECONDS
                self._whole_seconds = False
                logger.info(f"Freshchat refused a paced request (HTTP 429): pacing its windows over {self.horizon:.2f}s from now on")
            if limit and limit != self.limit:
                self.limit = limit
                self._recent = deque(self._recent, maxlen=max(1, limit - self.margin(limit)))
            opened_it = limit is not None and remaining == limit - 1
            if opened_it:
                before = self.horizon
                self._longest = min(self._longest, reset - sent)
                self._shortest = max(self._shortest, reset - 1 - answered)
                self._round_trip = answered - sent
                if before is None or abs(self.horizon - before) > LENGTH_LOG_CHANGE_SECONDS:
                    logger.info(f"Freshchat's rate limit: {limit} requests per window; pacing them over {self.horizon:.2f}s")
            if reset > self._reset:
                self._reset, self._ends_by, self._spent = reset, reset, False
            if reset == self._reset:
                if opened_it:
                    self._ends_by = min(reset, answered + self.horizon)
                self._spent = self._spent or remaining <= 0


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
        self._sent: Dict[int, float] = {}  # id of a request in flight -> when it was sent
        self._sent_lock = threading.Lock()
        self.waits = 0  # requests held back
        self.waited_seconds = 0.0  # the time they spent held back, summed over threads

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        started = PACING_CLOCK.monotonic()
        if self._own_cap:
            self._do_acquire(request=request, policy=self._own_cap, block=block, timeout=timeout)
        wait = self.windows.reserve(PACING_CLOCK.time(), book=block)
        if wait and not block:
            raise CallRateLimitHit(
                error="Freshchat's window is spent", item=request, weight=1, rate="", time_to_wait=timedelta(seconds=wait)
            )
        if wait:
            PACING_CLOCK.sleep(wait)
        waited = PACING_CLOCK.monotonic() - started
        with self._sent_lock:
            self._sent[id(request)] = PACING_CLOCK.time()
            if wait:
                self.waits += 1
                self.waited_seconds += waited
        if waited >= PACING_LOG_SECONDS:
            logger.info(f"Paced by Freshchat's rate limit: waited {waited:.1f}s for the window to refill")

    def waits_text(self) -> str:
        return f"{self.waits:,} rate-limit waits ({self.waited_seconds:.1f}s summed over workers)"

    def update_from_response(self, request: Any, response: Any) -> None:
        with self._sent_lock:
            sent = self._sent.pop(id(request), None)
        if sent is None or not isinstance(response, requests.Response):
            return
        reset = self.get_reset_ts_from_response(response)
        self.windows.observe(
            sent,
            PACING_CLOCK.time(),
            response.status_code,
            _header_int(response, "X-RateLimit-Limit"),
            _header_int(response, "X-RateLimit-Remaining"),
            reset.timestamp() if reset else None,
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
