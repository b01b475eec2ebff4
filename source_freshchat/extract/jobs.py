"""Freshchat's Extract API job queue: the one client of a sync that creates, polls and reads reports.

A report is a job: `POST /v2/reports/raw` with an event and a time window, polled at
`GET /v2/reports/raw/<id>` until it is COMPLETED, then downloaded from pre-signed links (`download.py`). Everything that
reads reports (the change feed of conversations, the report streams) says up front which events it needs from when
(`want`), so that every job of the sync is created back to back, within Freshchat's creation quota, while the earlier
ones generate; a consumer then waits for its own job (`pieces`, `rows`, `link_rows`). A window Freshchat refuses as too long is
asked for again in smaller pieces; an expired link is replaced by polling its job again. The client also finds the zone
of report times written without an offset, from a poll's echo of its window or the account's configuration.
"""

import csv
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from time import monotonic
from time import sleep as wait
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

import requests
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from ..config import FreshchatSettings, format_timestamp
from ..errors import FreshchatErrorHandler, error_message, json_body
from ..rate_limit import FreshchatBackoffStrategy, seconds_until_retry
from .download import LinkExpired, StorageClient
from .errors import ReportError
from .payload import Row, report_rows
from .times import has_offset, interval_offsets, report_time, zone_name

logger = logging.getLogger("airbyte")

REPORTS_PATH = "reports/raw"
FIRST_POLL_SECONDS = 2.0
POLL_GROWTH = 1.5
MAX_POLL_SECONDS = 30.0
CREATION_ATTEMPTS = 3  # a FAILED job is created again this many times in all before its stream fails
CREATION_WAIT_WITHOUT_ADVICE_SECONDS = 60.0  # the reported quota is about one creation per minute
LINK_REFRESHES = 3  # an expired link (403) is replaced by polling the job again, this many times per link
API_TIMEOUT = (10, 60)
WAIT_LOG_SECONDS = 60.0
MIN_PIECE = timedelta(hours=1)  # a window refused at this length is not split further: the stream fails, with Freshchat's words
PIECES_AHEAD = 3  # pieces of one read created ahead of the one a consumer waits for, so that they generate meanwhile
# A 400 that says the event is not offered names it (or says "event") and says so; one that speaks of the window does not.
NOT_OFFERED = re.compile(r"\bnot\s+(supported|available|enabled|allowed|permitted|offered)\b|\b(unknown|invalid|unsupported)\b", re.I)
WINDOW_WORDS = re.compile(r"\b(range|window|interval|duration|period|span|hours?|days?|weeks?|months?|exceed\w*|longer|start|end)\b", re.I)
STATED_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(hour|hr|day|week|month)s?\b", re.I)
UNIT_HOURS = {"hour": 1, "hr": 1, "day": 24, "week": 24 * 7, "month": 24 * 28}  # a month at its shortest, to stay inside a limit
DONE_STATUSES = {"COMPLETED", "SUCCESS"}
FAILED_STATUSES = {"FAILED", "ERROR"}


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
        self._storage = StorageClient(self._sleep)

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
            "GET", self._url(f"{REPORTS_PATH}/{quote(job.job_id or '', safe='')}"), request_kwargs={"timeout": API_TIMEOUT}
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

    # -- links: an expired one is replaced by polling its job again --------------------------
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
        return self._storage.download(url, what)
