"""Freshchat's rate limit: how long to wait before a retry, and the budget that paces requests before a 429.

The CDK does not read `Retry-After` by itself, and Freshchat may send it, `X-RateLimit-Reset`
(Unix time when the window resets), both, or neither on a 429.
"""

import logging
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Optional, Union

import requests
from airbyte_cdk.sources.streams.call_rate import FixedWindowCallRatePolicy, HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

MAX_WAIT_SECONDS = 600.0
BASE_WAIT_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.1
WINDOW = timedelta(minutes=1)
UNCAPPED_CALLS_PER_WINDOW = 1_000_000  # no cap of our own: Freshchat's headers set the pace
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


class FreshchatWindow(FixedWindowCallRatePolicy):
    """The CDK's fixed window, made to follow Freshchat's own windows.

    The CDK only ever lowers its count from `X-RateLimit-Remaining` and rolls over on its own
    clock, so when a response announces the next window's reset early, its count carries over
    into a window the server has refilled, and requests wait for nothing. Here a later reset starts
    a new window with the server's count, and a late answer from an older window is ignored.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._follows_server = False  # until a response says when Freshchat's window resets, the window is our own guess

    def _update_current_window(self) -> None:
        if datetime.now() > self._next_reset_ts:
            self._follows_server = False  # that window is over: the next response says when the new one ends
        super()._update_current_window()

    def update(self, available_calls: Optional[int], call_reset_ts: Optional[datetime]) -> None:
        with self._lock:
            self._update_current_window()
            following = self._follows_server
            if following and call_reset_ts is not None and call_reset_ts < self._next_reset_ts:
                return
            if call_reset_ts is not None and available_calls is not None and (not following or call_reset_ts > self._next_reset_ts):
                self._follows_server = True
                self._next_reset_ts = call_reset_ts
                self._calls_num = max(0, self._call_limit - available_calls)
                return
        super().update(available_calls, call_reset_ts)


class FreshchatAPIBudget(HttpAPIBudget):
    """One call budget per sync, shared by every stream: Freshchat limits the account, not an endpoint.

    The window is Freshchat's own: `X-RateLimit-Remaining` says what is left and `X-RateLimit-Reset`
    when it refills, so requests wait for the reset instead of running into 429s.
    `requests_per_minute` adds a moving-window cap of our own, for accounts that share their limit
    with other tools.
    """

    def __init__(self, requests_per_minute: Optional[int], in_flight: int) -> None:
        window = FreshchatWindow(next_reset_ts=datetime.now() + WINDOW, period=WINDOW, call_limit=UNCAPPED_CALLS_PER_WINDOW, matchers=[])
        super().__init__(
            ratelimit_reset_header="X-RateLimit-Reset",
            ratelimit_remaining_header="X-RateLimit-Remaining",
            status_codes_for_ratelimit_hit=[],  # a 429's wait comes from its own headers, in FreshchatBackoffStrategy
            policies=[window],
        )
        self._own_cap = (
            MovingWindowCallRatePolicy(rates=[Rate(limit=requests_per_minute, interval=WINDOW)], matchers=[])
            if requests_per_minute
            else None
        )
        self._in_flight = in_flight

    def get_calls_left_from_response(self, response: requests.Response) -> Optional[int]:
        try:
            left = super().get_calls_left_from_response(response)
        except ValueError:
            return None
        # Up to one request per worker may already be on its way when this count arrives.
        return None if left is None else max(0, left - self._in_flight)

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

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        started = time.monotonic()
        if self._own_cap:
            self._do_acquire(request=request, policy=self._own_cap, block=block, timeout=timeout)
        super().acquire_call(request, block=block, timeout=timeout)
        waited = time.monotonic() - started
        if waited >= PACING_LOG_SECONDS:
            logger.info(f"Paced by Freshchat's rate limit: waited {waited:.1f}s for the window to refill")
