"""How long to wait before retrying: Freshchat's rate-limit headers first, exponential backoff otherwise.

The CDK does not read `Retry-After` by itself, and Freshchat may send it, `X-RateLimit-Reset`
(Unix time when the window resets), both, or neither on a 429.
"""

import logging
import time
from email.utils import parsedate_to_datetime
from typing import Optional, Union

import requests
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

MAX_WAIT_SECONDS = 600.0
BASE_WAIT_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.1

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
    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int,
    ) -> Optional[float]:
        exponential = min(MAX_WAIT_SECONDS, BASE_WAIT_SECONDS * 2 ** max(0, attempt_count - 1))
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            asked = seconds_until_retry(response_or_exception)
            # never 0: the CDK reads a zero wait as "no advice" and falls back to its own retry loop
            wait = exponential if asked is None else min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, asked))
            logger.info(
                f"Rate limited by Freshchat on attempt {attempt_count}; waiting {wait:.1f}s "
                f"(Retry-After={response_or_exception.headers.get('Retry-After')}, "
                f"X-RateLimit-Reset={response_or_exception.headers.get('X-RateLimit-Reset')})"
            )
            return wait
        return exponential
