"""The REST part of `diagnose`: a few dozen requests that settle how this account's API behaves.

- The rate limit's `X-RateLimit-*` headers, and from the timing of a few requests: the window's length,
  whether its reset is rounded up or down, and whether windows open at the first request after the
  last one ended or on the clock.
- Whether `updated_from` filters users, the largest `items_per_page` served, and whether a new message
  moves its conversation's `updated_time`. Each is read from counts and times; no value is kept.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional
from urllib.parse import quote

from ..config import format_timestamp
from ..state import moment_of
from ..streams.users import USERS_FILTER_FLOOR
from .common import Answer, Api, wait_until

PROBE_PATH = "accounts/configuration"  # the cheapest request: one small object
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
# Resets are whole seconds: two windows opened this far apart in phase tell a window opened by its first request (both
# last the same from their opening request) from one that opens on the clock (the later-opened one ends sooner).
MIN_ALIGNMENT_OFFSET_SECONDS = 2.0
PAGE_SIZES = (50, 51, 100)  # the largest documented page, just above it, and well above it
SAMPLE_USERS = 5  # users whose first conversation is compared with its newest message


@dataclass(frozen=True)
class Reading:
    """The rate-limit headers of one response, with when its request was sent and answered (Unix time)."""

    sent: float
    answered: float
    limit: Optional[int]
    remaining: Optional[int]
    reset: Optional[float]

    @classmethod
    def of(cls, answer: Answer) -> "Reading":
        return cls(answer.sent, answer.answered, answer.limit, answer.remaining, answer.reset)

    @property
    def opened_window(self) -> bool:
        """The response says this request was its window's first."""
        return self.limit is not None and self.remaining == self.limit - 1


def length_bounds(opener: Reading, rounding: str) -> tuple:
    """The window's length, bounded by a request that opened it: it reached the server between sent and answered,
    and the window ended within the second before its reset (rounded up) or after it (rounded down)."""
    if rounding == "up":
        return opener.reset - 1 - (opener.answered - opener.sent) - opener.sent, opener.reset - opener.sent
    return opener.reset - opener.answered, opener.reset + 1 - opener.sent


def window_timing(rounding: str, opener: Reading, later: Optional[Reading], offset: float) -> Dict[str, Any]:
    """What two window-opening requests tell of the windows: `opener` was sent just after a window ended, `later`
    opened the next one, sent `offset` seconds after `opener`'s window ended (None: no such request)."""
    bounds = [length_bounds(opener, rounding)]
    finding: Dict[str, Any] = {}
    if later is None:
        finding["window_opens"] = "not measured"
    else:
        drift = (opener.reset - opener.sent) - (later.reset - later.sent)
        if drift > (1 + offset) / 2:
            length = later.reset - opener.reset
            aligned = length > 0 and later.reset % length == 0
            finding["window_opens"] = "on the clock" if aligned else "at fixed moments"
            finding["window_seconds"] = round(length, 3)
            return finding
        finding["window_opens"] = "at the first request"
        bounds.append(length_bounds(later, rounding))
    low, high = max(low for low, _ in bounds), min(high for _, high in bounds)
    whole = [seconds for seconds in range(max(1, int(low)), int(high) + 1) if low <= seconds <= high]
    finding["window_seconds"] = whole[0] if len(whole) == 1 else round((low + high) / 2, 2)
    finding["window_seconds_range"] = [round(low, 2), round(high, 2)]
    return finding


def probe_rate_limit(api: Api, say: Callable[[str], None]) -> Dict[str, Any]:
    pace = api.pace
    first_answer = api.call("GET", PROBE_PATH)
    first = Reading.of(first_answer)
    finding: Dict[str, Any] = {"headers": [name for name in RATE_HEADERS if name in first_answer.response.headers]}
    if first.limit is None or first.remaining is None or first.reset is None:
        finding["timing"] = "not measured: no X-RateLimit-Limit, -Remaining and -Reset"
        return finding
    raw_reset = first_answer.header_number("X-RateLimit-Reset") or 0
    finding.update(limit=first.limit, reset_header="unix time" if raw_reset > 1e9 else "seconds from now")
    to_reset = first.reset - time.time()
    if to_reset > pace.rate_limit_wait_seconds:
        finding["timing"] = f"not measured: the window resets in {to_reset:.0f} s, more than --rate-limit-wait allows"
        return finding
    say(f"Rate limit: waiting {max(0.0, to_reset):.0f} s for the current window to end")
    wait_until(first.reset + pace.reset_edge_seconds, api.sleep)
    opener = Reading.of(api.call("GET", PROBE_PATH))
    finding["reset_rounding"] = "up"
    if opener.reset == first.reset:  # its reset has passed, yet the window goes on
        finding["reset_rounding"] = "down"
        wait_until(first.reset + 1 + pace.reset_edge_seconds, api.sleep)
        opener = Reading.of(api.call("GET", PROBE_PATH))
    if not opener.opened_window or opener.reset is None:
        finding["timing"] = "not measured: another client is spending the same limit"
        return finding
    # Half a window, learned as an upper bound (reset - sent <= length + 1), so `later` opens before the beat it tests ends.
    offset = (opener.reset - opener.sent + 1) / 2
    later = None
    if offset >= MIN_ALIGNMENT_OFFSET_SECONDS:
        say(f"Rate limit: waiting {opener.reset + offset - time.time():.0f} s to open a window half a window late")
        wait_until(opener.reset + pace.reset_edge_seconds + offset, api.sleep)
        later = Reading.of(api.call("GET", PROBE_PATH))
        if not later.opened_window:
            later = None
    finding.update(window_timing(finding["reset_rounding"], opener, later, offset))
    return finding


def total_of(answer: Answer, key: str) -> Optional[int]:
    """How many records the answer says match: its pagination's total, else the length of its page."""
    body = answer.body()
    if not answer.ok or not isinstance(body, dict):
        return None
    total = (body.get("pagination") or {}).get("total_items") if isinstance(body.get("pagination"), dict) else None
    if isinstance(total, int):
        return total
    records = body.get(key)
    return len(records) if isinstance(records, list) else None


def probe_users_filter(api: Api) -> Dict[str, Any]:
    """Users updated since now are (almost) none: a server that honours `updated_from` answers fewer than all."""
    everyone = api.call("GET", "users", params={"created_from": USERS_FILTER_FLOOR, "items_per_page": 1})
    since_now = api.call("GET", "users", params={"updated_from": format_timestamp(datetime.now(timezone.utc)), "items_per_page": 1})
    for answer in (everyone, since_now):
        if not answer.ok:
            return {"verdict": "refused", **answer.refusal(api.settings.api_key)}
    total, filtered = total_of(everyone, "users"), total_of(since_now, "users")
    finding: Dict[str, Any] = {"users": total, "users_updated_since_now": filtered}
    if total is None or filtered is None:
        finding["verdict"] = "unknown: the answer has no users list"
    elif total == 0:
        finding["verdict"] = "unknown: the account has no users"
    else:
        finding["verdict"] = "honoured" if filtered < total else "ignored"
    return finding


def probe_page_size(api: Api) -> Dict[str, Any]:
    tries: List[Dict[str, Any]] = []
    for asked in PAGE_SIZES:
        answer = api.call("GET", "users", params={"created_from": USERS_FILTER_FLOOR, "items_per_page": asked})
        body = answer.body()
        attempt: Dict[str, Any] = {"asked": asked, "status": answer.status}
        if answer.ok and isinstance(body, dict):
            pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
            attempt["served"] = pagination.get("items_per_page")
            attempt["records"] = len(body.get("users") or [])
        elif not answer.ok:
            attempt["message"] = answer.refusal(api.settings.api_key)["message"]
        tries.append(attempt)
    served = [attempt["served"] for attempt in tries if isinstance(attempt.get("served"), int)]
    finding: Dict[str, Any] = {"tries": tries, "largest_served": max(served, default=None)}
    above = [attempt for attempt in tries if attempt["asked"] > PAGE_SIZES[0]]
    if any(attempt["status"] != 200 for attempt in above):
        finding["above_50"] = "refused"
    elif all(isinstance(attempt.get("served"), int) and attempt["served"] < attempt["asked"] for attempt in above):
        finding["above_50"] = f"clamped to {max(attempt['served'] for attempt in above)}"
    elif all(attempt.get("served") == attempt["asked"] for attempt in above):
        finding["above_50"] = "served as asked"
    else:
        finding["above_50"] = "unknown: no items_per_page echoed"
    return finding


def probe_message_bump(api: Api) -> Dict[str, Any]:
    """A conversation updated before its newest message proves that a message does not move `updated_time`."""
    users = api.call("GET", "users", params={"created_from": USERS_FILTER_FLOOR, "items_per_page": SAMPLE_USERS})
    body = users.body()
    if not users.ok or not isinstance(body, dict):
        return {"verdict": "unknown: the users list was refused", **users.refusal(api.settings.api_key)}
    compared = updated_before_message = 0
    for user in body.get("users") or []:
        conversations = _body_of(api.call("GET", f"users/{_segment(user, 'id')}/conversations"))
        listed = conversations.get("conversations") if isinstance(conversations, dict) else None
        if not listed or not isinstance(listed[0], dict):
            continue
        conversation_path = f"conversations/{_segment(listed[0], 'id')}"
        conversation = _body_of(api.call("GET", conversation_path))
        messages = _body_of(api.call("GET", f"{conversation_path}/messages", params={"page": 1, "items_per_page": 1}))
        newest = (messages.get("messages") or [None])[0] if isinstance(messages, dict) else None
        updated = moment_of(conversation.get("updated_time")) if isinstance(conversation, dict) else None
        created = moment_of(newest.get("created_time")) if isinstance(newest, dict) else None
        if updated is None or created is None:
            continue
        compared += 1
        updated_before_message += updated < created
    finding: Dict[str, Any] = {"conversations_compared": compared, "updated_before_newest_message": updated_before_message}
    if compared == 0:
        finding["verdict"] = "unknown: no conversation with messages among the first users"
    else:
        finding["verdict"] = "no" if updated_before_message else "yes"
    return finding


def _body_of(answer: Answer) -> Any:
    return answer.body() if answer.ok else None


def _segment(record: Mapping[str, Any], key: str) -> str:
    return quote(str(record.get(key) or ""), safe="")


def run_rest_probes(api: Api, say: Callable[[str], None]) -> Dict[str, Any]:
    """Every REST probe, the rate limit first, while the diagnosis has not yet spent any of the window."""
    return {
        "rate_limit": probe_rate_limit(api, say),
        "users_updated_from": probe_users_filter(api),
        "items_per_page": probe_page_size(api),
        "message_moves_conversation": probe_message_bump(api),
    }
