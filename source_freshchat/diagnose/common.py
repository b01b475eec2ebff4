"""What every probe of `diagnose` shares: its pace, one HTTP client that keeps the raw answers, and the scrubber.

The report is meant to be shared, so nothing taken from an answer reaches it unscrubbed: Freshchat's
own error messages are kept (they are API answers, not account data) but anything in them that looks
like a uuid, an email, a long number or a token is replaced; a time value is kept only as its shape.
"""

import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import requests
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from ..config import FreshchatSettings
from ..errors import error_message, json_body
from ..extract.jobs import API_TIMEOUT
from ..extract.times import REPORT_TIME
from ..rate_limit import seconds_until_retry

MAX_MESSAGE_CHARS = 300
THROTTLED_RETRIES = 2  # a REST probe answered 429 waits as asked and tries again, this many times


@dataclass(frozen=True)
class Pace:
    """Every wait of a diagnosis, so that a run against the emulator takes seconds."""

    poll_seconds: float = 15.0  # between polls of a report job
    creation_interval_seconds: float = 60.0  # between job creations: the reported quota is about one a minute
    job_wait_seconds: float = 30 * 60.0  # a job not finished by then is reported as such
    rate_limit_wait_seconds: float = 180.0  # the longest the rate-limit probe waits for a window to end; 0: headers only
    reset_edge_seconds: float = 0.05  # how long after a window's announced reset its edge is probed
    quota_wait_seconds: float = 120.0  # a 429 asking to wait longer is recorded, not waited out


_UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL = re.compile(r"\b(https?://[^\s?#\"'<>]*)[?#][^\s\"'<>]*")
_TOKEN = re.compile(r"\b(?=[\w.-]*\d)(?=[\w.-]*[a-z])[\w.-]{20,}\b", re.I)  # letters and digits together: a key, a hash
_LONG_NUMBER = re.compile(r"\d{6,}")


def scrub(text: Any, *secrets: str) -> str:
    """A message safe to share: no uuid, email, link query, token-like string, long number or given secret."""
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    text = _URL.sub(r"\1?<query>", text)
    text = _UUID.sub("<uuid>", text)
    text = _EMAIL.sub("<email>", text)
    text = _TOKEN.sub("<token>", text)
    text = _LONG_NUMBER.sub("<number>", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def time_shape(value: Any) -> Optional[str]:
    """A report time's format with its digits masked (`9999-99-99T99:99:99.999Z`); None for anything that is no time."""
    text = str(value).strip()
    if not (text.isdigit() or REPORT_TIME.fullmatch(text)):
        return None
    return re.sub(r"\d", "9", text)


def time_format(value: Any) -> Optional[Mapping[str, Any]]:
    """How a report time is written: iso (a T) or space, epoch seconds or milliseconds, and the offset it carries."""
    text = str(value).strip()
    if text.isdigit():
        return {"format": "epoch_ms" if int(text) > 1e11 else "epoch_s", "offset": "UTC (epoch)", "shape": time_shape(text)}
    matched = REPORT_TIME.fullmatch(text)
    if matched is None:
        return None
    offset = matched.group(6)
    written = "space" if text[10:11] == " " else "iso"
    return {
        "format": written if matched.group(2) else "date",
        "offset": "none" if offset is None else ("Z" if offset.upper() == "Z" else "+hh:mm" if ":" in offset else "+hhmm"),
        "shape": time_shape(text),
    }


@dataclass
class Answer:
    """One API response with when it was sent and answered (Unix time), and its rate-limit headers."""

    response: requests.Response
    sent: float
    answered: float

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def ok(self) -> bool:
        return self.response.ok

    def header_number(self, name: str) -> Optional[float]:
        try:
            return float(self.response.headers[name])
        except (KeyError, ValueError):
            return None

    @property
    def limit(self) -> Optional[int]:
        value = self.header_number("X-RateLimit-Limit")
        return None if value is None else int(value)

    @property
    def remaining(self) -> Optional[int]:
        value = self.header_number("X-RateLimit-Remaining")
        return None if value is None else int(value)

    @property
    def reset(self) -> Optional[float]:
        """The window's reset as Unix time; a small number can only mean "seconds from now"."""
        value = self.header_number("X-RateLimit-Reset")
        if value is None:
            return None
        return value if value > 1e9 else self.answered + value

    @property
    def retry_after(self) -> Optional[float]:
        if "Retry-After" not in self.response.headers:
            return None
        return seconds_until_retry(self.response, self.answered)

    def body(self) -> Any:
        try:
            return json_body(self.response)
        except ValueError:
            return None

    def refusal(self, api_key: str) -> Mapping[str, Any]:
        """A refused request as the report keeps it: the status and Freshchat's own words, scrubbed."""
        message = error_message(self.response) if self.body() is not None else None
        return {"status": self.status, "message": scrub(message or self.response.reason or "", api_key)}


class Api:
    """The Freshchat API with the connector's auth, keeping every answer raw; REST probes wait out a 429 as asked."""

    def __init__(self, settings: FreshchatSettings, pace: Pace, sleep=time.sleep) -> None:
        self.settings = settings
        self.pace = pace
        self.sleep = sleep
        self.session = requests.Session()
        self.session.auth = TokenAuthenticator(settings.api_key)
        self.session.headers["Accept"] = "application/json"
        self.requests = 0
        self.throttled = 0  # 429s answered to REST probes

    def call(self, method: str, path: str, *, params=None, json=None, wait_if_throttled: bool = True) -> Answer:
        for attempt in range(THROTTLED_RETRIES + 1):
            sent = time.time()
            response = self.session.request(method, self.settings.api_base + path, params=params, json=json, timeout=API_TIMEOUT)
            self.requests += 1
            answer = Answer(response, sent, time.time())
            if answer.status != 429 or not wait_if_throttled or attempt == THROTTLED_RETRIES:
                return answer
            self.throttled += 1
            wait = seconds_until_retry(response) or 1.0
            if wait > self.pace.quota_wait_seconds:
                return answer
            self.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns

    def close(self) -> None:
        self.session.close()


def wait_until(moment: float, sleep=time.sleep) -> None:
    """Sleeps until Unix time `moment`."""
    delay = moment - time.time()
    if delay > 0:
        sleep(delay)
