"""Connector config -> validated settings.

Every rule about what a valid `domain`, `api_key` and `start_date` look like lives here, so that
`check` and `read` refuse bad input with the same clear message before any request is sent.
"""

import functools
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

FRESHCHAT_HOST_SUFFIX = ".freshchat.com"
API_PATH = "/v2/"
# The fan-out is latency-bound: 16 in flight roughly halve a sync at 50 ms against 8, at the same CPU and
# with no 429s under a tight limit, since the rate-limit pacing, not the pool, keeps the request rate in bounds.
DEFAULT_NUM_WORKERS = 16
MAX_NUM_WORKERS = 32

# How conversations and messages find what changed: walk every user, follow the Extract API's change feed, or choose.
DISCOVERY_MODES = ("auto", "walk", "extract")
DEFAULT_DISCOVERY_MODE = "auto"
DEFAULT_FULL_WALK_INTERVAL_DAYS = 7
MAX_FULL_WALK_INTERVAL_DAYS = 90  # well inside the Extract API's 15-month reach, so a due walk is never out of reach
# Reports may show an event some time after it happened: each window re-reads this much of the previous one.
DEFAULT_FEED_OVERLAP_MINUTES = 60
MAX_FEED_OVERLAP_MINUTES = 7 * 24 * 60
DEFAULT_REPORT_WAIT_MINUTES = 60  # reports take minutes; working clients give up after an hour or more
MAX_REPORT_WAIT_MINUTES = 24 * 60
# A quota's 429 that asks for longer than this (a daily quota, until midnight) ends the reading for this sync instead.
DEFAULT_REPORT_QUOTA_WAIT_MINUTES = 10
MAX_REPORT_QUOTA_WAIT_MINUTES = 24 * 60

DOMAIN_EXAMPLES = (
    "a valid domain looks like `acme`, `acme.freshchat.com`, `acme-123-abc.freshchat.com`, "
    "`api.eu.freshchat.com` or `https://acme.freshchat.com` (plain http:// only for localhost)"
)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces: what an HTTP header can carry
_BEARER_PREFIX = re.compile(r"^bearer\s+", re.IGNORECASE)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$")
MAX_API_KEY_LENGTH = 4096  # real tokens are about a kilobyte; longer is a paste gone wrong, and servers refuse such headers


@dataclass(frozen=True)
class FreshchatSettings:
    api_base: str  # e.g. "https://acme.freshchat.com/v2/"
    origin: str  # scheme://host[:port]: the only place links may point to
    api_key: str
    start_date: Optional[datetime]
    num_workers: int = DEFAULT_NUM_WORKERS
    requests_per_minute: Optional[int] = None
    conversation_discovery: str = DEFAULT_DISCOVERY_MODE
    full_walk_interval: timedelta = timedelta(days=DEFAULT_FULL_WALK_INTERVAL_DAYS)
    feed_overlap: timedelta = timedelta(minutes=DEFAULT_FEED_OVERLAP_MINUTES)
    report_wait: timedelta = timedelta(minutes=DEFAULT_REPORT_WAIT_MINUTES)
    report_quota_wait: timedelta = timedelta(minutes=DEFAULT_REPORT_QUOTA_WAIT_MINUTES)


def config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


def parse_settings(config: Mapping[str, Any]) -> FreshchatSettings:
    origin = parse_domain(config.get("domain"))
    api_key = parse_api_key(config.get("api_key"))
    return FreshchatSettings(
        api_base=origin + API_PATH,
        origin=origin,
        api_key=api_key,
        start_date=parse_start_date(config.get("start_date")),
        num_workers=parse_num_workers(config.get("num_workers", DEFAULT_NUM_WORKERS)),
        requests_per_minute=parse_requests_per_minute(config.get("requests_per_minute")),
        conversation_discovery=parse_conversation_discovery(config.get("conversation_discovery", DEFAULT_DISCOVERY_MODE)),
        full_walk_interval=timedelta(
            days=parse_whole_number(
                config, "full_walk_interval_days", DEFAULT_FULL_WALK_INTERVAL_DAYS, 1, MAX_FULL_WALK_INTERVAL_DAYS, "days"
            )
        ),
        feed_overlap=timedelta(
            minutes=parse_whole_number(config, "feed_overlap_minutes", DEFAULT_FEED_OVERLAP_MINUTES, 0, MAX_FEED_OVERLAP_MINUTES, "minutes")
        ),
        report_wait=timedelta(
            minutes=parse_whole_number(config, "report_wait_minutes", DEFAULT_REPORT_WAIT_MINUTES, 1, MAX_REPORT_WAIT_MINUTES, "minutes")
        ),
        report_quota_wait=timedelta(
            minutes=parse_whole_number(
                config, "report_quota_wait_minutes", DEFAULT_REPORT_QUOTA_WAIT_MINUTES, 1, MAX_REPORT_QUOTA_WAIT_MINUTES, "minutes"
            )
        ),
    )


def parse_domain(value: Any) -> str:
    """Returns the API origin for a domain value, refusing any host that is not Freshchat or loopback."""
    if value is not None and not isinstance(value, str):
        raise config_error(f"`domain` must be a string, got {type(value).__name__}: {DOMAIN_EXAMPLES}.")
    if not value or not value.strip():
        raise config_error(f"`domain` is required: {DOMAIN_EXAMPLES}.")
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
        host = (parts.hostname or "").lower()
    except ValueError:
        raise config_error(f"`domain` {value.strip()!r} is not a valid host or URL: {DOMAIN_EXAMPLES}.") from None
    if parts.username is not None or parts.password is not None:
        raise config_error(f"`domain` must not contain credentials: {DOMAIN_EXAMPLES}.")
    if parts.path.rstrip("/") not in ("", "/v2") or parts.query or parts.fragment:
        raise config_error(f"`domain` must not contain a path or query other than /v2: {DOMAIN_EXAMPLES}.")
    if _is_loopback(host):
        if parts.scheme not in ("http", "https"):
            raise config_error(f"`domain` must use http:// or https://: {DOMAIN_EXAMPLES}.")
        netloc = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}"
    if parts.scheme != "https":
        raise config_error(f"`domain` must use https:// (plain http:// is only accepted for localhost): {DOMAIN_EXAMPLES}.")
    if port is not None:
        raise config_error(f"`domain` must not name a port: {DOMAIN_EXAMPLES}.")
    return "https://" + _freshchat_host(host, value.strip())


def _freshchat_host(host: str, original: str) -> str:
    if "." not in host and _LABEL.match(host):
        return host + FRESHCHAT_HOST_SUFFIX
    labels = host.split(".")
    if host.endswith(FRESHCHAT_HOST_SUFFIX) and len(labels) >= 3 and all(_LABEL.match(label) for label in labels):
        return host
    raise config_error(
        f"`domain` {original!r} is not a Freshchat host; the API key is only ever sent to *.freshchat.com: {DOMAIN_EXAMPLES}."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_api_key(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise config_error(f"`api_key` must be a string, got {type(value).__name__}.")
    if not value or not value.strip():
        raise config_error("`api_key` is required: copy it from Freshchat > Admin > Configure > API Tokens.")
    token = _BEARER_PREFIX.sub("", value.strip())
    if token.lower() == "bearer":
        raise config_error("`api_key` holds only the prefix, not the token: paste the token that follows it.")
    if len(token) > MAX_API_KEY_LENGTH:
        raise config_error(f"`api_key` is {len(token)} characters long, more than any Freshchat token: paste the token alone.")
    if not _TOKEN.match(token):
        raise config_error(
            "`api_key` contains spaces or characters that cannot be sent in an HTTP header: paste the token exactly as Freshchat shows it."
        )
    add_to_secrets(token)  # the CDK masks registered secrets in every log line it writes
    return token


def parse_start_date(value: Any) -> Optional[datetime]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise config_error(f"`start_date` must be a string such as 2024-01-31 or 2024-01-31T00:00:00Z, got {type(value).__name__}.")
    try:
        if not _ISO_8601.match(value.strip()):
            raise ValueError(value)
        start = parse_timestamp(value.strip())
    except ValueError:
        raise config_error(
            f"`start_date` {value[:40]!r} is not an ISO-8601 date or datetime such as 2024-01-31 or 2024-01-31T00:00:00Z."
        ) from None
    if start > datetime.now(timezone.utc):
        raise config_error(
            f"`start_date` {value[:40]!r} is in the future, so no data could ever be synced: use a past date or leave it empty."
        )
    return start


def parse_num_workers(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NUM_WORKERS:
        raise config_error(f"`num_workers` must be a whole number from 1 to {MAX_NUM_WORKERS}, got {value!r}.")
    return value


def parse_requests_per_minute(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise config_error(f"`requests_per_minute` must be a whole number of at least 1, or empty for no cap of our own, got {value!r}.")
    return value


def parse_conversation_discovery(value: Any) -> str:
    if value not in DISCOVERY_MODES:
        raise config_error(
            f"`conversation_discovery` must be one of {', '.join(DISCOVERY_MODES)} (auto chooses per sync), got {str(value)[:40]!r}."
        )
    return value


def parse_whole_number(config: Mapping[str, Any], key: str, default: int, minimum: int, maximum: int, unit: str) -> int:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise config_error(f"`{key}` must be a whole number of {unit} from {minimum} to {maximum}, got {str(value)[:40]!r}.")
    return value


def parse_timestamp(text: str) -> datetime:
    """Parses an ISO-8601 date or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    if _DATE_ONLY.match(text):
        text += "T00:00:00"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


# The CDK reads a stream's state after every record, and the state holds a few moments that rarely change.
@functools.lru_cache(maxsize=256)
def format_timestamp(moment: datetime) -> str:
    """Freshchat's own timestamp format: UTC with milliseconds and Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
