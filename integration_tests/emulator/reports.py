"""The Extract API (raw reports): report jobs on the API host, their files on a storage host.

A job is created with `POST /v2/reports/raw`, polled with `GET /v2/reports/raw/{id}` until it
is COMPLETED, and then lists one pre-signed link per piece of its window. The links point at a
separate storage host, as Freshchat's point at cloud storage: it wants no credentials but the
link's own signature, refuses an Authorization or Cookie header as such hosts do, and answers
errors in XML. What a job holds is fixed when it completes; every poll of a completed job signs
fresh links, so a client whose links expired polls again.
"""

from __future__ import annotations

import bisect
import calendar
import collections
import csv
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .behaviour import Behaviour
from .data import MS_PER_HOUR, REPORT_EVENTS, Dataset, encode_json, iso_from_ms, ms_from_iso, now_ms, time_column
from .responses import ApiError, Response, bad_request, too_many_requests

DAILY_QUOTA_MESSAGE = "Daily limit of {limit} report requests reached{scope}; try again tomorrow"

REQUIRED_FIELDS = ("start", "end", "event", "format")
WINDOW_MONTHS = 15  # how far back a report may start
XML_TYPE = "application/xml"
ZIP_TYPE = "application/zip"
CSV_TYPE = "text/csv; charset=utf-8"
SIGNING_ALGORITHM = "AWS4-HMAC-SHA256"
# Words that title-style headers write in capitals: "Conversation ID", "CSAT ID".
TITLE_ACRONYMS = {"id": "ID", "csat": "CSAT"}
LINK_PATH = re.compile(r"/exports/(?P<job_id>[^/]+)/(?P<number>[1-9][0-9]*)\.(?P<kind>zip|csv)")
# Storage sets a load-balancer cookie on every answer; a client must never send it back.
STORAGE_COOKIE = "AWSALB"


@dataclass(frozen=True)
class Piece:
    """One link's share of a completed job: rows with time in [start, end)."""

    start: str
    end: str
    rows: list


@dataclass
class Job:
    id: str
    event: str
    start: str
    end: str
    fails: bool  # answers FAILED where it would complete
    polls: int = 0
    pieces: Optional[list] = None  # set when the job completes

    def interval(self, behaviour: Behaviour) -> str:
        """The window as the poll echoes it: ISO-8601 in UTC, or the account's local time as in Freshchat's example."""
        if behaviour.report_time_zone is None:
            return f"{self.start}/{self.end}"
        return f"{local_time(self.start, behaviour.report_time_zone)}_{local_time(self.end, behaviour.report_time_zone)}"


def months_before(moment: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier, the day clamped to the month's length."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)


def local_time(iso: str, zone: str) -> str:
    """`2019-08-21 05:30:00.0`: a UTC time in the zone's wall-clock time, with no offset, as Java prints a timestamp."""
    moment = datetime.fromtimestamp(ms_from_iso(iso) / 1000, tz=ZoneInfo(zone))
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 100_000}"


def row_time(iso: str, behaviour: Behaviour, header_style: str) -> str:
    """A row's time in the behaviour's format and zone; title-style reports write `2025-07-10 19:47:55` by default."""
    if behaviour.report_time_format in ("epoch_s", "epoch_ms"):
        epoch_ms = ms_from_iso(iso)
        return str(epoch_ms // 1000 if behaviour.report_time_format == "epoch_s" else epoch_ms)
    zone = behaviour.report_time_zone
    if zone is not None:
        wall = datetime.fromtimestamp(ms_from_iso(iso) / 1000, tz=ZoneInfo(zone)).replace(tzinfo=None)
        text = wall.isoformat(timespec="milliseconds")
    else:
        text = iso.removesuffix("Z") if behaviour.report_time_format == "space" else iso
    if behaviour.report_time_format == "space":
        return text.replace("T", " ")
    if header_style == "title":
        return text[:19].replace("T", " ")
    return text


def title_header(column: str) -> str:
    return " ".join(TITLE_ACRONYMS.get(word, word.capitalize()) for word in column.split("_"))


def render_csv(event: str, rows: list, behaviour: Behaviour) -> bytes:
    """UTF-8 with a BOM, as spreadsheets export it; quoting as the csv module's default dialect."""
    columns = REPORT_EVENTS[event]
    time_name = time_column(event)
    header_style = behaviour.report_header_style
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(map(title_header, columns) if header_style == "title" else columns)
    writer.writerows([row_time(row[name], behaviour, header_style) if name == time_name else row[name] for name in columns] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def render_zip(event: str, piece_number: int, rows: list, behaviour: Behaviour, file_count: int) -> bytes:
    """A ZIP of file_count CSV files, each with its header and a consecutive share of the rows."""
    share = max(1, math.ceil(len(rows) / file_count))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for index in range(file_count):
            name = f"{event}_{piece_number}_{index + 1}.csv"
            zipped.writestr(
                zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)),
                render_csv(event, rows[index * share : (index + 1) * share], behaviour),
            )
    return archive.getvalue()


def storage_error(status: int, code: str, message: str) -> Response:
    """An error as S3-like storage answers it: XML, not the API's JSON."""
    request_id = uuid.uuid4().hex[:16].upper()
    body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    return Response(status, f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode(), XML_TYPE)


class ReportDesk:
    """The Extract API's jobs, their creation quota and the storage host's signed links."""

    def __init__(self):
        self.storage_url: Optional[str] = None  # set while the storage host runs
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._quota_window_start = -math.inf
        self._quota_used = 0
        self._used_today: collections.Counter = collections.Counter()  # job creations today, by event (or "*")
        self._signing_key = secrets.token_bytes(32)
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        self._redirected: set[str] = set()

    # -- API host --------------------------------------------------------------------------
    def create(self, body: bytes, behaviour: Behaviour) -> Response:
        """POST /v2/reports/raw: validates, takes a slot of the creation quota, answers 202 with the job's link."""
        _check_available(behaviour)
        start, end, event = _validated_request(body, behaviour)
        _check_window(start, end, event, behaviour)
        self._take_daily_slot(event, behaviour)
        wait_seconds = self._take_job_slot(behaviour)
        if wait_seconds is not None:
            raise too_many_requests(wait_seconds, behaviour.retry_after)
        job = Job(str(uuid.uuid4()), event, start, end, fails=_take_failure(behaviour, event))
        with self._lock:
            self._jobs[job.id] = job
        prefix = "/v2" if behaviour.report_href_with_v2 else ""
        payload = {"id": job.id, "link": {"rel": "extracts", "href": f"{prefix}/reports/raw/{job.id}"}}
        return Response(202, encode_json(payload))

    def status(self, job_id: str, data: Dataset, behaviour: Behaviour) -> dict:
        """GET /v2/reports/raw/{id}: PENDING, IN_PROGRESS, then COMPLETED with fresh links (or FAILED)."""
        _check_available(behaviour)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise ApiError(404, "NOT_FOUND", f"report {job_id} not found")
            job.polls += 1
            answer = {"id": job.id, **({"interval": job.interval(behaviour)} if behaviour.report_interval_echo else {})}
            if job.pieces is None:
                if job.polls <= behaviour.report_pending_polls or behaviour.report_never_completes:
                    return {**answer, "status": "PENDING" if job.polls == 1 else "IN_PROGRESS"}
                if job.fails:
                    return {**answer, "status": "FAILED"}
                job.pieces = _pieces(job, data, behaviour)
            zone = behaviour.report_time_zone
            links = [
                {
                    "from": piece.start if zone is None else local_time(piece.start, zone),
                    "to": piece.end if zone is None else local_time(piece.end, zone),
                    "status": "COMPLETED",
                    "link": {"href": self._signed_link(job, number, behaviour)},
                }
                for number, piece in enumerate(job.pieces, start=1)
                if piece.rows or behaviour.report_links_of_empty_pieces
            ]
        return {**answer, "status": "COMPLETED", "links": links}

    def _take_daily_slot(self, event: str, behaviour: Behaviour) -> None:
        """Counts a creation against the daily quota, or answers 429 until the next UTC day (with or without Retry-After)."""
        limit = behaviour.report_daily_quota
        if limit is None:
            return
        key = event if behaviour.report_daily_quota_scope == "event" else "*"
        with self._lock:
            if self._used_today[key] < limit:
                self._used_today[key] += 1
                return
        now = datetime.now(timezone.utc)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
        scope = f" for event {event}" if key == event else ""
        error = too_many_requests(math.ceil((midnight - now).total_seconds()), behaviour.report_daily_quota_retry_after)
        error.message = DAILY_QUOTA_MESSAGE.format(limit=limit, scope=scope)
        raise error

    def new_day(self) -> None:
        with self._lock:
            self._used_today.clear()

    def _take_job_slot(self, behaviour: Behaviour) -> Optional[int]:
        """None when a job may be created now, else the seconds until the quota's window ends."""
        limit = behaviour.report_jobs_per_window
        if limit is None:
            return None
        with self._lock:
            now = time.time()
            if now >= self._quota_window_start + behaviour.report_job_window_seconds:
                self._quota_window_start, self._quota_used = now, 0
            if self._quota_used >= limit:
                return max(1, math.ceil(self._quota_window_start + behaviour.report_job_window_seconds - now))
            self._quota_used += 1
            return None

    # -- signed links ----------------------------------------------------------------------
    def _signed_link(self, job: Job, number: int, behaviour: Behaviour) -> str:
        path = f"/exports/{job.id}/{number}.{behaviour.report_payload}"
        issued = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", issued)
        expires = str(max(0, math.ceil(behaviour.report_link_ttl_seconds)))
        # A fresh session token per link, as links signed with temporary credentials carry:
        # it also keeps links issued within one second apart, so expire_links() spares later ones.
        token = secrets.token_urlsafe(24)
        signature = self._signature(path, amz_date, expires, token)
        self._issued.add(signature)
        query = {
            "X-Amz-Algorithm": SIGNING_ALGORITHM,
            "X-Amz-Credential": f"AKIAFRESHCHATEMULATOR/{amz_date[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": expires,
            "X-Amz-Security-Token": token,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": signature,
        }
        return f"{self.storage_url}{path}?{urlencode(query)}"

    def _signature(self, path: str, amz_date: str, expires: str, token: str) -> str:
        return hmac.new(self._signing_key, f"{path}\n{amz_date}\n{expires}\n{token}".encode(), hashlib.sha256).hexdigest()

    def expire_links(self) -> None:
        """Every link issued so far answers "Request has expired" from now on."""
        with self._lock:
            self._revoked |= self._issued

    # -- storage host ----------------------------------------------------------------------
    def download(self, method: str, path: str, query: Mapping, headers: Mapping, behaviour: Behaviour) -> Response:
        """A link's file, once the request proves to carry nothing but the link's own signature."""
        if method != "GET":
            return storage_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        if headers.get("Authorization") is not None:
            message = (
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified"
            )
            return storage_error(400, "InvalidArgument", message)
        if headers.get("Cookie") is not None:
            return storage_error(400, "InvalidArgument", "Requests carrying a Cookie header are not accepted")
        redirect = self._first_redirect(path, query, behaviour)
        if redirect is not None:
            return redirect
        refusal = self._refused_signature(path, query)
        if refusal is not None:
            return refusal
        matched = LINK_PATH.fullmatch(path)
        with self._lock:
            job = self._jobs.get(matched["job_id"]) if matched else None
        number = int(matched["number"]) if matched else 0
        if job is None or job.pieces is None or number > len(job.pieces):
            return storage_error(404, "NoSuchKey", "The specified key does not exist.")
        rows = job.pieces[number - 1].rows
        if matched["kind"] == "csv":
            return Response(200, render_csv(job.event, rows, behaviour), CSV_TYPE)
        body = render_zip(job.event, number, rows, behaviour, behaviour.report_files_per_zip)
        return Response(200, body, ZIP_TYPE)

    def _first_redirect(self, path: str, query: Mapping, behaviour: Behaviour) -> Optional[Response]:
        """The first request of each link is sent to another scheme when the behaviour says so."""
        if behaviour.storage_redirect is None:
            return None
        link = f"{path}?{urlencode(query)}"
        with self._lock:
            if link in self._redirected:
                return None
            self._redirected.add(link)
        port = self.storage_url.rsplit(":", 1)[1]
        # An http redirect leaves loopback, so a client can prove it refuses to follow it.
        host = "storage.invalid" if behaviour.storage_redirect == "http" else "127.0.0.1"
        return Response(302, b"", XML_TYPE, {"Location": f"{behaviour.storage_redirect}://{host}:{port}{link}"})

    def _refused_signature(self, path: str, query: Mapping) -> Optional[Response]:
        signed = ("X-Amz-Date", "X-Amz-Expires", "X-Amz-Security-Token", "X-Amz-Signature")
        amz_date, expires, token, signature = (query.get(name) for name in signed)
        if None in (amz_date, expires, token, signature):
            return storage_error(403, "AccessDenied", "Access Denied")
        if not hmac.compare_digest(self._signature(path, amz_date, expires, token), signature):
            return storage_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
            )
        issued = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        with self._lock:
            revoked = signature in self._revoked
        if revoked or time.time() >= issued + int(expires):
            return storage_error(403, "AccessDenied", "Request has expired")
        return None


def storage_cookie() -> str:
    """The Set-Cookie of every storage answer."""
    return f"{STORAGE_COOKIE}={secrets.token_hex(16)}; Path=/; HttpOnly"


def _check_available(behaviour: Behaviour) -> None:
    if behaviour.extract_api == "forbidden":
        raise ApiError(403, "FORBIDDEN", "The Extract API is not enabled for this account")
    if behaviour.extract_api == "missing":
        raise ApiError(404, "NOT_FOUND", "no such endpoint")


def _validated_request(body: bytes, behaviour: Behaviour) -> tuple[str, str, str]:
    """(start, end, event) of a valid job request, times in the dataset's canonical form."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise bad_request("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise bad_request(f"the body must be a JSON object with {', '.join(REQUIRED_FIELDS)}")
    missing = [name for name in REQUIRED_FIELDS if payload.get(name) in (None, "")]
    if missing:
        raise bad_request(f"missing required fields: {', '.join(missing)}")
    if payload["format"] != "csv":
        raise bad_request(f"format must be csv, not {payload['format']!r}")
    try:
        start_ms, end_ms = ms_from_iso(payload["start"]), ms_from_iso(payload["end"])
    except (TypeError, ValueError):
        raise bad_request("start and end must be ISO-8601 timestamps") from None
    if start_ms >= end_ms:
        raise bad_request("start must be before end")
    floor = months_before(datetime.now(timezone.utc), WINDOW_MONTHS)
    if start_ms < floor.timestamp() * 1000:
        raise bad_request(
            f"start must not be earlier than {WINDOW_MONTHS} months before now ({iso_from_ms(int(floor.timestamp() * 1000))})"
        )
    event = payload["event"]
    if event not in REPORT_EVENTS:
        raise bad_request(f"Unknown event {event}; expected one of {', '.join(REPORT_EVENTS)}")
    if event in behaviour.refused_events:
        raise bad_request(f"Event {event} is not supported for this account")
    return iso_from_ms(start_ms), iso_from_ms(end_ms), event


def _check_window(start: str, end: str, event: str, behaviour: Behaviour) -> None:
    """A window longer than the event's limit is refused as a bad request, in the behaviour's words."""
    limits = behaviour.report_max_window_hours
    limit = limits.get(event, limits.get("*"))
    if limit is not None and ms_from_iso(end) - ms_from_iso(start) > limit * MS_PER_HOUR:
        raise bad_request(behaviour.report_window_refusal.format(hours=limit, days=limit / 24, event=event))


def _take_failure(behaviour: Behaviour, event: str) -> bool:
    """Counts down Behaviour.report_failures: True while the event's next jobs are to fail."""
    remaining = behaviour.report_failures.get(event, 0)
    if remaining > 0:
        behaviour.report_failures[event] = remaining - 1
    return remaining > 0


def _pieces(job: Job, data: Dataset, behaviour: Behaviour) -> list:
    """The job's window in consecutive pieces of report_link_hours, each with the rows visible now."""
    start_ms, end_ms = ms_from_iso(job.start), ms_from_iso(job.end)
    # An event is visible once report_lag_seconds have passed since its time.
    visible_end_ms = min(end_ms, now_ms() - math.ceil(behaviour.report_lag_seconds * 1000) + 1)
    rows = data.report_rows(job.event, job.start, iso_from_ms(max(start_ms, visible_end_ms)))
    times = [row[time_column(job.event)] for row in rows]
    piece_ms = max(1, int(behaviour.report_link_hours * MS_PER_HOUR))
    pieces = []
    for piece_start_ms in range(start_ms, end_ms, piece_ms):
        piece_start, piece_end = iso_from_ms(piece_start_ms), iso_from_ms(min(piece_start_ms + piece_ms, end_ms))
        first, after_last = bisect.bisect_left(times, piece_start), bisect.bisect_left(times, piece_end)
        pieces.append(Piece(piece_start, piece_end, rows[first:after_last]))
    return pieces
