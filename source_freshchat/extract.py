"""Freshchat's Extract API (raw reports): the one client and job queue of a sync.

A report is a job: `POST /v2/reports/raw` with an event and a time window, polled at
`GET /v2/reports/raw/<id>` until it is COMPLETED, then downloaded from pre-signed links on a
storage host that is not Freshchat. Everything that reads reports (the change feed of
conversations, the report streams) says up front which events it needs from when (`want`), so
that every job of the sync is created back to back, within Freshchat's creation quota, while the
earlier ones generate; a consumer then waits for its own job (`links`, `link_rows`).

Security: a download link's query string is a credential, and the API key must never leave the
configured Freshchat origin. Downloads go through their own session, with no auth, no cookies
and no netrc; only https links (or http on loopback, for the emulator) are followed, redirects
included; logs and errors name a link by host and path only.

Payloads are ZIP archives of CSV files (or a plain CSV), spooled to a temporary file and read
row by row, never held in memory. Header names differ between events and accounts, so they are
normalised (`Conversation ID` -> `conversation_id`) and unknown columns are kept.
"""

import calendar
import csv
import http.cookiejar
import io
import logging
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from time import monotonic
from time import sleep as wait
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import FreshchatSettings, _is_loopback, format_timestamp
from .errors import FreshchatErrorHandler, error_message, json_body
from .rate_limit import FreshchatBackoffStrategy, seconds_until_retry
from .state import moment_of

logger = logging.getLogger("airbyte")


class LinkQueryLogFilter(logging.Filter):
    """urllib3 logs every request line with its query at debug level; a download link's query is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) and "?" in arg else arg for arg in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(LinkQueryLogFilter())

REPORTS_PATH = "reports/raw"
REACH_MONTHS = 15  # Freshchat refuses a window that starts earlier than this before today
REACH_SLACK = timedelta(days=1)  # stay clear of the boundary, whose exact rule (calendar months, time zone) is not documented
FIRST_POLL_SECONDS = 2.0
POLL_GROWTH = 1.5
MAX_POLL_SECONDS = 30.0
CREATION_ATTEMPTS = 3  # a FAILED job is created again this many times in all before its stream fails
CREATION_WAIT_WITHOUT_ADVICE_SECONDS = 60.0  # the reported quota is about one creation per minute
LINK_REFRESHES = 3  # an expired link (403) is replaced by polling the job again, this many times per link
DOWNLOAD_ATTEMPTS = 4
MAX_REDIRECTS = 5
DOWNLOAD_TIMEOUT = (10, 300)
API_TIMEOUT = (10, 60)
CHUNK_BYTES = 1 << 20
WAIT_LOG_SECONDS = 60.0
MIN_PIECE = timedelta(hours=1)  # a window refused at this length is not split further: the stream fails, with Freshchat's words
PIECES_AHEAD = 3  # pieces of one read created ahead of the one a consumer waits for, so that they generate meanwhile
# Consumers keep a row whose time lies this far before their window: Freshchat defines a job's window, perhaps in the
# account's zone (up to 14 h off UTC), and a row read twice is de-duplicated by its key.
ZONE_MARGIN = timedelta(hours=25)
# A 400 that says the event is not offered names it (or says "event") and says so; one that speaks of the window does not.
NOT_OFFERED = re.compile(r"\bnot\s+(supported|available|enabled|allowed|permitted|offered)\b|\b(unknown|invalid|unsupported)\b", re.I)
WINDOW_WORDS = re.compile(r"\b(range|window|interval|duration|period|span|hours?|days?|weeks?|months?|exceed\w*|longer|start|end)\b", re.I)
STATED_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(hour|hr|day|week|month)s?\b", re.I)
UNIT_HOURS = {"hour": 1, "hr": 1, "day": 24, "week": 24 * 7, "month": 24 * 28}  # a month at its shortest, to stay inside a limit
DONE_STATUSES = {"COMPLETED", "SUCCESS"}
FAILED_STATUSES = {"FAILED", "ERROR"}


@dataclass(frozen=True)
class ReportEvent:
    """One Extract API event and how its rows read: which column holds the event's time, what identifies a row."""

    name: str
    stream: str
    time_column: str = "created_at"
    natural_key: Optional[str] = None  # an id column the event carries; otherwise a hash of `identity` is the key
    identity: tuple = ("conversation_id", "agent_id")


# The events of section 6 of the API notes, in the order streams are registered. Column names are the normalised ones.
EVENTS: Mapping[str, ReportEvent] = {
    event.name: event
    for event in (
        ReportEvent("Agent-Activity", "agent_activity", identity=("agent_id", "status")),
        ReportEvent("Agent-Intelliassign-Activity", "agent_intelliassign_activity", identity=("agent_id", "activity")),
        ReportEvent("Conversation-Agent-Assigned", "conversation_agent_assigned", identity=("conversation_id", "agent_id")),
        ReportEvent("Conversation-Group-Assigned", "conversation_group_assigned", identity=("conversation_id", "group_id")),
        ReportEvent("Conversation-Created", "conversation_created", identity=("conversation_id",)),
        ReportEvent("Conversation-Resolved", "conversation_resolved", identity=("conversation_id", "agent_id")),
        ReportEvent("Conversation-Resolution-Label", "conversation_resolution_label", identity=("conversation_id", "label", "sub_label")),
        ReportEvent("Message-Sent", "message_sent", natural_key="message_id"),
        ReportEvent("CSAT-Score", "csat_score", natural_key="csat_id"),
        ReportEvent("First-Response-Time", "first_response_time", identity=("conversation_id", "agent_id")),
        ReportEvent("Response-Time", "response_time", natural_key="message_id"),
        ReportEvent("Resolution-Time", "resolution_time", identity=("conversation_id", "agent_id")),
        ReportEvent("Chat-Transcript", "chat_transcript", time_column="created_time", natural_key="message_id"),
    )
}

Row = Dict[str, Optional[str]]


class ReportError(AirbyteTracedException):
    """A report this sync cannot have.

    `refused`: the account does not offer it (no Extract API, or not this event). `quota`: Freshchat's quota on creating
    reports is used up for longer than `report_quota_wait_minutes`; a later sync can have it.
    """

    def __init__(self, message: str, refused: bool = False, quota: bool = False) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)
        self.refused = refused
        self.quota = quota


class LinkExpired(Exception):
    """The storage host refused a download link (403): it expired, and the job gives fresh ones when polled again."""


def reach_floor(now: datetime) -> datetime:
    """The earliest window start Freshchat accepts now, with a day to spare."""
    month_index = now.year * 12 + now.month - 1 - REACH_MONTHS
    year, month = divmod(month_index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day) + REACH_SLACK


def window_end() -> datetime:
    """Reports are asked up to now: events after it are the next sync's."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def normalise_column(name: str) -> str:
    """`Conversation ID`, `conversation-id` and `conversation_id` all read as `conversation_id`."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


# ISO-8601 or `2019-08-21 05:30:00.0` (a fraction of any length), with or without an offset.
REPORT_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?", re.I)
# Offsets of the world's zones lie within this, in steps of a quarter hour.
MAX_UTC_OFFSET = timedelta(hours=14)
OFFSET_STEP = timedelta(minutes=15)
MAX_DST_SHIFT = timedelta(hours=1)


def report_time(value: Any, zone: tzinfo = timezone.utc) -> Optional[datetime]:
    """An event time as reports write it, in UTC: ISO-8601 or a space for the T, a time without an offset being in `zone`,
    or epoch seconds or milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.isdigit():
        return moment_of(int(text))
    matched = REPORT_TIME.fullmatch(text)
    if matched is None:
        return None
    date, hour, minute, second, fraction, offset = matched.groups()
    try:
        moment = datetime.fromisoformat(date).replace(
            hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0), microsecond=int((fraction or "0")[:6].ljust(6, "0"))
        )
    except ValueError:
        return None
    return moment.replace(tzinfo=zone if offset is None else offset_zone(offset)).astimezone(timezone.utc)


def offset_zone(offset: str) -> tzinfo:
    if offset.upper() == "Z":
        return timezone.utc
    digits = offset[1:].replace(":", "")
    size = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(size if offset[0] == "+" else -size)


def has_offset(value: Any) -> bool:
    """Whether a report time says its own zone: epoch numbers and times with Z or an offset do; wall-clock times do not."""
    text = str(value).strip()
    matched = REPORT_TIME.fullmatch(text)
    return text.isdigit() or (matched is not None and matched.group(6) is not None)


def interval_offsets(interval: Any, start: datetime, end: datetime) -> Optional[Tuple[timedelta, timedelta]]:
    """How far the wall clock of a poll's `interval` echo runs ahead of UTC at each end of the window [start, end] asked.

    The echo is `<start>/<end>` or `<start>_<end>` (Freshchat's example: `2019-08-21 05:30:00.0_...`). An echo written
    with offsets speaks UTC: (0, 0). None where it shows nothing: absent, unreadable, or not the window that was asked
    (an end that is no whole quarter hour away from it). The two ends differ where the window spans a change of DST.
    """
    parts = re.split(r"[/_]", str(interval or "").strip())
    if len(parts) != 2 or not all(parts):
        return None
    offsets = []
    for echoed, asked in zip(parts, (start, end)):
        wall = report_time(echoed)
        if wall is None:
            return None
        offset = wall - asked.astimezone(timezone.utc) if not has_offset(echoed) else timedelta(0)
        step = round(offset / OFFSET_STEP) * OFFSET_STEP
        if abs(step) > MAX_UTC_OFFSET or abs(offset - step) > timedelta(minutes=1):
            return None
        offsets.append(step)
    if abs(offsets[1] - offsets[0]) > MAX_DST_SHIFT:
        return None
    return offsets[0], offsets[1]


def safe_url(url: str) -> str:
    """A download link without its query string, which is a credential: scheme, host and path only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def check_download_url(url: str) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ReportError(
        f"Freshchat's report link points to {safe_url(url)}, which is not https; refusing to download a report over an "
        "unencrypted connection. Please report this with the sync logs."
    )


# -- reading payloads ----------------------------------------------------------------------
# A pasted log can make one message_parts field far larger than the csv module's default limit of 128 kB; memory bounds it.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def report_rows(payload: IO[bytes]) -> Iterator[Row]:
    """Rows of a downloaded report: every CSV file of a ZIP archive in turn, or a plain CSV."""
    payload.seek(0)
    if payload.read(4) != b"PK\x03\x04":
        payload.seek(0)
        yield from csv_rows(payload)
        return
    payload.seek(0)
    with zipfile.ZipFile(payload) as archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
        csv_members = [member for member in members if member.filename.lower().endswith(".csv")] or members
        for member in csv_members:
            with archive.open(member) as raw:
                yield from csv_rows(raw)


def csv_rows(raw: IO[bytes]) -> Iterator[Row]:
    """Rows of one CSV file, streamed; a UTF-8 BOM is dropped, empty fields read as None."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        columns = unique_columns([normalise_column(name) for name in header])
        for values in reader:
            if not any(values):
                continue  # a blank line, e.g. at the end of a file
            row: Row = {column: value if value != "" else None for column, value in zip(columns, values)}
            for extra, value in enumerate(values[len(columns) :], start=1):
                row[f"extra_column_{extra}"] = value
            yield row
    finally:
        text.detach()  # the caller closes the file it opened


def unique_columns(columns: List[str]) -> List[str]:
    """Two headers that normalise alike (`Agent ID`, `agent_id`) keep both values: the second gets a suffix."""
    seen: Dict[str, int] = {}
    unique = []
    for column in columns:
        column = column or "column"
        seen[column] = seen.get(column, 0) + 1
        unique.append(column if seen[column] == 1 else f"{column}_{seen[column]}")
    return unique


# -- jobs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportLink:
    start: Optional[str]
    end: Optional[str]
    url: str


@dataclass
class ReportJob:
    """One piece of a read: a job Freshchat generates for one window."""

    event: str
    start: datetime
    end: datetime
    read: Optional["ReportRead"] = field(default=None, repr=False)
    job_id: Optional[str] = None
    status: str = "NOT CREATED"
    links: List[ReportLink] = field(default_factory=list)
    creations: int = 0
    created_at: float = 0.0
    next_poll_at: float = 0.0
    poll_interval: float = FIRST_POLL_SECONDS
    last_wait_log: float = 0.0
    quota_waited: float = 0.0  # seconds this job has waited for the creation quota, 429 after 429
    superseded: bool = False  # Freshchat refused the window: smaller pieces replace it
    error: Optional[ReportError] = None

    @property
    def window(self) -> str:
        return f"{format_timestamp(self.start)} to {format_timestamp(self.end)}"

    @property
    def finished(self) -> bool:
        return self.error is not None or self.superseded or self.status in DONE_STATUSES

    @property
    def deferred(self) -> bool:
        """Not created, and the quota leaves it to a later sync."""
        return self.job_id is None and self.read is not None and self.read.deferred is not None

    def describe(self) -> str:
        return f"the {self.event} report for {self.window}"


@dataclass
class ReportRead:
    """One event over [start, end], asked for in pieces no longer than the event's longest accepted window, oldest first.

    Pieces are cut when the queue first looks at the read, so that windows learned from any stream's state count. The
    queue creates at most PIECES_AHEAD pieces beyond the furthest one a consumer waits for, so the reads of a sync take
    turns at the creation quota and no read asks for a year of jobs up front.
    """

    event: str
    start: datetime
    end: datetime
    pieces: List[ReportJob] = field(default_factory=list)
    furthest: int = 0
    deferred: Optional[ReportError] = None  # the quota ends this read for this sync, at its first piece not created

    def describe(self) -> str:
        return f"the {self.event} report for {format_timestamp(self.start)} to {format_timestamp(self.end)}"


def refuses_event(message: str, event: str) -> bool:
    """A 400 that says the event itself is unknown or not offered, rather than that the window is too long."""
    names_event = re.search(r"\bevent\b", message, re.I) is not None or event.lower() in message.lower()
    return names_event and NOT_OFFERED.search(message) is not None and WINDOW_WORDS.search(message) is None


def stated_limit(message: str, refused: timedelta) -> Optional[timedelta]:
    """The longest window that a refusal's words name and that is shorter than the refused one ("must not exceed 24 hours")."""
    lengths = [float(number) * UNIT_HOURS[unit.lower()] for number, unit in STATED_LIMIT.findall(message)]
    shorter = [timedelta(hours=hours) for hours in lengths if MIN_PIECE <= timedelta(hours=hours) < refused]
    return max(shorter, default=None)


def describe_length(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    return f"{hours / 24:.3g} days" if hours >= 48 else f"{hours:.3g} hours"


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)


class ExtractClient:
    """Creates, polls and downloads the reports of one sync; shared by every stream that reads reports."""

    def __init__(
        self,
        settings: FreshchatSettings,
        api_budget: Optional[APIBudget] = None,
        clock: Optional[Callable[[], float]] = None,
        sleep: Optional[Callable[[float], None]] = None,
    ) -> None:
        self._settings = settings
        self.api_budget = api_budget
        self._clock = clock or monotonic
        self._sleep = sleep or wait
        self._reads: List[ReportRead] = []
        self._windows: Dict[str, timedelta] = {}  # event -> the longest window known to be accepted
        self._creation_allowed_at = 0.0
        self._echo: Optional[Tuple[datetime, datetime, Tuple[timedelta, timedelta]]] = None
        self._zone: Optional[tzinfo] = None
        self._zone_from_echo = False
        tolerated = {
            400: "the Extract API refused the request",
            403: "no Extract API for this account or token",
            404: "no Extract API for this account, or no such report",
            429: "the Extract API's quota; the job queue waits and tries again",
        }
        self._api = HttpClient(
            name="extract_api",
            logger=logger,
            error_handler=FreshchatErrorHandler(logger, tolerated),
            api_budget=api_budget,
            authenticator=TokenAuthenticator(settings.api_key),
            backoff_strategy=FreshchatBackoffStrategy(),
        )
        self._storage = requests.Session()
        self._storage.trust_env = False  # no netrc credentials; proxies and CA bundle are read below, per link
        self._storage.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._environment = requests.Session()  # reads the environment's proxy and CA settings, never sends

    # -- what the sync needs ------------------------------------------------------------------
    def want(self, event: str, start: datetime, end: datetime) -> ReportRead:
        """Registers that this sync needs `event` from `start`; consumers of the same event share one read when they can."""
        for read in self._reads:
            if read.event != event or any(piece.error is not None for piece in read.pieces):
                continue
            if not read.pieces:
                read.start, read.end = min(read.start, start), max(read.end, end)
                return read
            if read.start <= start:
                return read
        read = ReportRead(event, start, end)
        self._reads.append(read)
        return read

    def learn_window(self, event: str, hours: Any) -> None:
        """A window a previous sync found Freshchat to accept for `event` (from state): pieces are cut no longer than it."""
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours >= MIN_PIECE / timedelta(hours=1):
            return
        length = timedelta(hours=hours)
        if event not in self._windows or length < self._windows[event]:
            self._windows[event] = length

    def window_hours(self, event: str) -> Optional[float]:
        """The longest window of `event` this sync knows Freshchat to accept, in hours, for the state; None: no limit seen."""
        length = self._windows.get(event)
        return None if length is None else length / timedelta(hours=1)

    def pieces(self, read: ReportRead) -> Iterator[ReportJob]:
        """The read's pieces in time order, each once Freshchat has finished it.

        Stops early where the quota leaves the rest of the read to a later sync; `read.deferred` then says why.
        """
        self._cut(read)
        index = 0
        while index < len(read.pieces):
            job = read.pieces[index]
            read.furthest = max(read.furthest, index)
            self._create_jobs(self._clock())  # the pieces now in reach generate while this one is read
            self._wait_for(job)
            if job.superseded:
                continue  # cut into smaller pieces, the first of which now stands at `index`
            if job.deferred:
                return
            yield job
            index += 1

    def rows(self, read: ReportRead) -> Iterator[Row]:
        """Every row of the read; raises `read.deferred` where the quota leaves part of it to a later sync."""
        for job in self.pieces(read):
            for index in range(len(job.links)):
                yield from self.link_rows(job, index)
        if read.deferred is not None:
            raise read.deferred

    def link_rows(self, job: ReportJob, index: int) -> Iterator[Row]:
        """The rows behind one link of a finished job, downloaded to a temporary file first."""
        payload = self._fetch_link(job, index)
        with payload:
            try:
                yield from report_rows(payload)
            except (zipfile.BadZipFile, UnicodeDecodeError, csv.Error) as error:
                raise ReportError(
                    f"Could not read part {index + 1} of {job.describe()}: {type(error).__name__}: {error}. "
                    "Please report this with the sync logs."
                ) from None

    # -- report times ------------------------------------------------------------------------
    def report_time(self, value: Any) -> Optional[datetime]:
        """A report's time in UTC; one written without an offset is read in the zone of `time_zone`."""
        if value is None or has_offset(value):
            return report_time(value)
        return report_time(value, self.time_zone())

    def time_is_certain(self, value: Any) -> bool:
        """Whether `report_time(value)` is the moment Freshchat meant: it carries its zone, or an echo showed the zone."""
        return has_offset(value) or (self._zone is not None and self._zone_from_echo)

    def time_zone(self) -> tzinfo:
        """The zone of report times written without an offset; found once per sync, and logged.

        From the offset between a poll's `interval` echo and the window asked (the account's configured zone where it
        agrees, for its changes of DST); else the account's configured zone; else UTC.
        """
        if self._zone is None:
            self._zone, how = self._find_zone()
            level = logging.WARNING if how.startswith("nothing") else logging.INFO
            logger.log(level, f"Report times written without an offset are read as {zone_name(self._zone)}: {how}")
        return self._zone

    def _find_zone(self) -> Tuple[tzinfo, str]:
        if self._echo is not None:
            start, end, offsets = self._echo
            self._zone_from_echo = True
            if offsets == (timedelta(0), timedelta(0)):
                return timezone.utc, "Freshchat echoes a report's window in UTC"
            account = self._account_zone()
            if account is not None and (start.astimezone(account).utcoffset(), end.astimezone(account).utcoffset()) == offsets:
                return account, "the account's time zone, which Freshchat's echo of a report's window confirms"
            return timezone(offsets[0]), "the offset of Freshchat's echo of a report's window from the window asked"
        account = self._account_zone()
        if account is not None:
            return account, "the account's time zone (Freshchat echoed no report window to check it against)"
        return timezone.utc, "nothing tells their zone (no echo of a report's window, no time zone in the account's configuration)"

    def _account_zone(self) -> Optional[tzinfo]:
        """The zone the account's configuration names, asked once and not retried: it is a hint, and without it times read as UTC."""
        probe = HttpClient(
            name="extract_api_zone",
            logger=logger,
            error_handler=FreshchatErrorHandler(logger, {status: "no time zone from the account" for status in (400, 403, 404, 429)}),
            api_budget=self.api_budget,
            authenticator=TokenAuthenticator(self._settings.api_key),
            disable_retries=True,
        )
        try:
            _, response = probe.send_request(
                "GET", self._url("accounts/configuration"), request_kwargs={"timeout": API_TIMEOUT}, headers={"Accept": "application/json"}
            )
            body = json_body(response) if response.ok else None
            name = body.get("timezone") if isinstance(body, dict) else None
            return ZoneInfo(name) if isinstance(name, str) and name else None
        except Exception as error:  # any failure leaves the hint out; the caller logs what it falls back to
            logger.info(f"Could not read the account's time zone: {type(error).__name__}")
            return None

    # -- the job queue -------------------------------------------------------------------------
    def _cut(self, read: ReportRead) -> None:
        if not read.pieces:
            read.pieces = self._pieces_of(read, read.start, read.end)

    def _pieces_of(self, read: ReportRead, start: datetime, end: datetime) -> List[ReportJob]:
        length = self._windows.get(read.event)
        if length is None or end - start <= length:
            return [ReportJob(read.event, start, end, read)]
        count = -(-(end - start) // length)
        bounds = [start + length * index for index in range(count)] + [end]
        return [ReportJob(read.event, piece_start, piece_end, read) for piece_start, piece_end in zip(bounds, bounds[1:])]

    def _queued(self) -> List[ReportJob]:
        """The jobs the queue creates and polls now: each read's pieces up to PIECES_AHEAD beyond the furthest waited for."""
        jobs = []
        for read in self._reads:
            self._cut(read)
            jobs.extend(read.pieces[: read.furthest + PIECES_AHEAD])
        return jobs

    def _wait_for(self, job: ReportJob) -> None:
        while not job.finished and not job.deferred:
            now = self._clock()
            self._give_up_on_overdue_jobs(now)
            self._create_jobs(now)
            self._poll_due_jobs(now)
            if job.finished or job.deferred:
                break
            self._sleep(max(0.05, self._next_action_at() - self._clock()))
        if job.error is not None:
            raise job.error

    def _next_action_at(self) -> float:
        queued = self._queued()
        moments = [job.next_poll_at for job in queued if job.job_id and not job.finished]
        if any(job.job_id is None and not job.finished and not job.deferred for job in queued):
            moments.append(self._creation_allowed_at)
        return min(moments, default=self._clock() + FIRST_POLL_SECONDS)

    def _create_jobs(self, now: float) -> None:
        for job in self._queued():
            if job.job_id is not None or job.finished or job.deferred:
                continue
            if now < self._creation_allowed_at:
                return
            self._create(job, now)

    def _create(self, job: ReportJob, now: float) -> None:
        body = {"start": format_timestamp(job.start), "end": format_timestamp(job.end), "event": job.event, "format": "csv"}
        _, response = self._api.send_request(
            "POST", self._url(REPORTS_PATH), request_kwargs={"timeout": API_TIMEOUT}, headers={"Accept": "application/json"}, json=body
        )
        status = response.status_code
        if status == 429:
            self._wait_for_quota(job, now, response)
            return
        if status in (403, 404):
            job.error = ReportError(
                f"This Freshchat account has no Extract API (HTTP {status} {error_message(response) or ''} creating {job.describe()}); "
                "reports need a plan and an API token that include it.",
                refused=True,
            )
            return
        if status == 400:
            self._refused_window(job, error_message(response) or "HTTP 400")
            return
        body = json_body(response)
        job_id = body.get("id") if isinstance(body, dict) else None
        if not job_id:
            job.error = ReportError(f"Freshchat's answer to creating {job.describe()} has no job id; the API may have changed.")
            return
        job.job_id, job.status, job.links = str(job_id), "PENDING", []
        job.creations += 1
        job.created_at = job.created_at or now  # the wait bound counts from the first creation, across re-creations
        job.next_poll_at = now + FIRST_POLL_SECONDS
        job.poll_interval = FIRST_POLL_SECONDS
        logger.info(f"Created {job.describe()} (job {job.job_id})")

    def _wait_for_quota(self, job: ReportJob, now: float, response: requests.Response) -> None:
        """A 429 on creation: wait for the quota, unless it asks for longer than `report_quota_wait_minutes` in all."""
        advice = seconds_until_retry(response)
        wait = CREATION_WAIT_WITHOUT_ADVICE_SECONDS if advice is None else advice
        job.quota_waited += wait
        answer = error_message(response) or "HTTP 429"
        bound = self._settings.report_quota_wait.total_seconds()
        if wait > bound or job.quota_waited > bound:
            assert job.read is not None
            frees = f"at about {format_timestamp(datetime.now(timezone.utc) + timedelta(seconds=advice))}" if advice else "later"
            job.read.deferred = ReportError(
                f"Freshchat's quota on creating {job.event} reports is used up ({answer}); it frees up {frees}, "
                f"beyond `report_quota_wait_minutes` ({bound / 60:.0f})",
                quota=True,
            )
            for piece in job.read.pieces:
                if piece.job_id is None:
                    piece.created_at = 0.0  # a deferred piece is not overdue: it waits for a later sync
            logger.info(f"{job.read.deferred.message}: the rest of {job.read.describe()} waits for a later sync")
            return
        self._creation_allowed_at = self._clock() + wait
        job.created_at = job.created_at or now  # a quota that never frees up is bounded by the same wait as a slow report
        logger.info(
            f"Freshchat's Extract API limits how often reports are created ({answer}): waiting {wait:.0f}s before creating {job.describe()}"
        )

    def _refused_window(self, job: ReportJob, answer: str) -> None:
        """A 400: the event refused for good, or a window too long for it, which is asked for again in smaller pieces."""
        if refuses_event(answer, job.event):
            job.error = ReportError(f"Freshchat refused {job.describe()}: {answer}", refused=True)
            return
        length = job.end - job.start
        if length <= MIN_PIECE:
            job.error = ReportError(
                f"Freshchat refused {job.describe()}, and no smaller window is asked for: {answer}. Please report this with the sync logs."
            )
            return
        shorter = stated_limit(answer, length) or max(MIN_PIECE, length / 2)
        self._windows[job.event] = min(self._windows.get(job.event, shorter), shorter)
        logger.info(
            f"Freshchat refused a window of {describe_length(length)} for {job.event} reports ({answer}); "
            f"asking for it in pieces of at most {describe_length(self._windows[job.event])}"
        )
        read = job.read
        assert read is not None
        index = read.pieces.index(job)
        after = next((i for i in range(index + 1, len(read.pieces)) if read.pieces[i].job_id is not None), len(read.pieces))
        until = read.pieces[after].start if after < len(read.pieces) else read.end
        for replaced in read.pieces[index:after]:
            replaced.superseded = True
        read.pieces[index:after] = self._pieces_of(read, job.start, until)

    def _poll_due_jobs(self, now: float) -> None:
        for job in self._queued():
            if job.job_id and not job.finished and job.next_poll_at <= now:
                self._poll(job)

    def _poll(self, job: ReportJob) -> None:
        _, response = self._api.send_request(
            "GET", self._url(f"{REPORTS_PATH}/{quote(job.job_id or '', safe='')}"), request_kwargs={"timeout": API_TIMEOUT}, headers={}
        )
        now = self._clock()
        if response.status_code == 429:
            advised = seconds_until_retry(response) or job.poll_interval
            job.next_poll_at = now + min(advised, self._settings.report_quota_wait.total_seconds())
            return
        if response.status_code in (400, 403, 404):
            answer = error_message(response) or "no message"
            self._recreate_or_fail(job, f"its job {job.job_id} answered HTTP {response.status_code} ({answer})")
            return
        body = json_body(response)
        status = str(body.get("status") or "").upper() if isinstance(body, dict) else ""
        links = [link for link in (body.get("links") or []) if isinstance(link, dict)] if isinstance(body, dict) else []
        if status in FAILED_STATUSES or any(str(link.get("status") or "").upper() in FAILED_STATUSES for link in links):
            self._recreate_or_fail(job, f"Freshchat reported job {job.job_id} as FAILED")
            return
        pending_links = [link for link in links if str(link.get("status") or "COMPLETED").upper() not in DONE_STATUSES]
        if status in DONE_STATUSES and not pending_links:
            if self._echo is None and isinstance(body, dict):
                offsets = interval_offsets(body.get("interval"), job.start, job.end)
                self._echo = None if offsets is None else (job.start, job.end, offsets)
            # In time order, so a consumer that checkpoints after each link never skips an earlier one.
            job.links = sorted((self._link_of(link) for link in links), key=lambda link: report_time(link.start) or job.end)
            if not all(link.url for link in job.links):
                job.error = ReportError(
                    f"A link of {job.describe()} has no URL; the API may have changed. Please report this with the sync logs."
                )
                return
            job.status = "COMPLETED"
            logger.info(
                f"{job.describe()[0].upper()}{job.describe()[1:]} is ready: {len(job.links)} link(s) after {now - job.created_at:.0f}s"
            )
            return
        job.status = "LINKS PENDING" if status in DONE_STATUSES else status or "PENDING"  # done only once every link is
        job.poll_interval = min(MAX_POLL_SECONDS, job.poll_interval * POLL_GROWTH)
        job.next_poll_at = now + job.poll_interval
        if now - job.last_wait_log >= WAIT_LOG_SECONDS:
            job.last_wait_log = now
            logger.info(
                f"Waiting for {job.describe()}: {job.status} after {now - job.created_at:.0f}s; next poll in {job.poll_interval:.0f}s "
                f"(gives up after {self._settings.report_wait.total_seconds() / 60:.0f} min)"
            )

    def _link_of(self, link: Mapping[str, Any]) -> ReportLink:
        href = (link.get("link") or {}).get("href") if isinstance(link.get("link"), dict) else link.get("href")
        return ReportLink(link.get("from"), link.get("to"), urljoin(self._settings.origin, href) if href else "")

    def _recreate_or_fail(self, job: ReportJob, reason: str) -> None:
        if job.creations >= CREATION_ATTEMPTS:
            job.error = ReportError(f"Gave up on {job.describe()}: {reason}, and so did its {job.creations - 1} re-creations.")
            return
        logger.warning(f"{reason[0].upper()}{reason[1:]} for {job.describe()}; creating it again")
        job.job_id, job.status, job.links = None, "NOT CREATED", []

    def _give_up_on_overdue_jobs(self, now: float) -> None:
        limit = self._settings.report_wait.total_seconds()
        for job in self._queued():
            if job.created_at and not job.finished and not job.deferred and now - job.created_at > limit:
                job.error = ReportError(
                    f"Freshchat did not finish {job.describe()} within {limit / 60:.0f} minutes (last status {job.status}); "
                    "raise `report_wait_minutes`, or try again later."
                )

    def _url(self, path: str) -> str:
        return self._settings.api_base + path

    # -- downloads -----------------------------------------------------------------------------
    def _fetch_link(self, job: ReportJob, index: int) -> IO[bytes]:
        for refresh in range(LINK_REFRESHES + 1):
            link = job.links[index]
            try:
                return self.download(link.url, f"part {index + 1} of {len(job.links)} of {job.describe()}")
            except LinkExpired:
                if refresh == LINK_REFRESHES:
                    break
                logger.info(f"The link to part {index + 1} of {job.describe()} expired; asking Freshchat for fresh links")
                self._refresh_links(job, index)
        raise ReportError(f"Every link Freshchat gave for part {index + 1} of {job.describe()} was refused as expired (HTTP 403).")

    def _refresh_links(self, job: ReportJob, index: int) -> None:
        job.status, job.next_poll_at = "REFRESHING", self._clock()
        job.created_at = job.next_poll_at  # fresh links get a wait bound of their own
        self._wait_for(job)
        if len(job.links) <= index:
            raise ReportError(f"Freshchat's fresh links for {job.describe()} no longer include part {index + 1}.")

    def download(self, url: str, what: str) -> IO[bytes]:
        """A link's payload in a temporary file, retried on connection errors, 429 and 5xx; LinkExpired on a 403."""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            problem = self._try_download(url, what)
            if not isinstance(problem, str):
                return problem
            if attempt == DOWNLOAD_ATTEMPTS:
                raise ReportError(f"Could not download {what} from {safe_url(url)} after {attempt} attempts: {problem}")
            wait = 2.0 ** (attempt - 1)
            logger.info(f"Downloading {what} from {safe_url(url)} failed ({problem}); retrying in {wait:.0f}s")
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _try_download(self, url: str, what: str):
        """The payload in a temporary file, or a text saying why this attempt failed and may be retried."""
        try:
            response = self._get_following_redirects(url)
        except requests.RequestException as error:
            return type(error).__name__
        with response:
            if response.status_code == 403:
                raise LinkExpired()
            if response.status_code == 429 or response.status_code >= 500:
                return f"HTTP {response.status_code}"
            if not response.ok:
                raise ReportError(f"The storage host answered HTTP {response.status_code} for {what} ({safe_url(url)}).")
            payload = tempfile.TemporaryFile()
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    payload.write(chunk)
                size, expected = payload.tell(), response.headers.get("Content-Length")
                if expected and expected.isdigit() and size != int(expected):
                    payload.close()
                    return f"cut off at {size} of {expected} bytes"
            except requests.RequestException as error:
                payload.close()
                return type(error).__name__
            logger.info(f"Downloaded {what}: {payload.tell()} bytes from {safe_url(url)}")
            return payload

    def _get_following_redirects(self, url: str) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            check_download_url(url)
            environment = self._environment.merge_environment_settings(url, {}, True, None, None)
            response = self._storage.get(url, allow_redirects=False, timeout=DOWNLOAD_TIMEOUT, headers={"Accept": "*/*"}, **environment)
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers.get("Location", ""))
            response.close()
        raise ReportError(f"The report link redirected more than {MAX_REDIRECTS} times; last to {safe_url(url)}.")
