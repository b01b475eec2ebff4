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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Mapping, Optional
from urllib.parse import urlencode

from .data import MS_PER_HOUR, REPORT_EVENTS, Dataset, encode_json, iso_from_ms, ms_from_iso, now_ms, time_column
from .responses import ApiError, Response, bad_request, too_many_requests

if TYPE_CHECKING:
    from .server import Behaviour

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

    @property
    def interval(self) -> str:
        return f"{self.start}/{self.end}"


def months_before(moment: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier, the day clamped to the month's length."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)


def title_header(column: str) -> str:
    return " ".join(TITLE_ACRONYMS.get(word, word.capitalize()) for word in column.split("_"))


def render_csv(event: str, rows: list, header_style: str) -> bytes:
    """UTF-8 with a BOM, as spreadsheets export it; quoting as the csv module's default dialect."""
    columns = REPORT_EVENTS[event]
    time_name = time_column(event)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header_style == "title":
        writer.writerow(map(title_header, columns))
        # Title-style reports write times like "2025-07-10 19:47:55": UTC, seconds, no zone.
        writer.writerows([row[name][:19].replace("T", " ") if name == time_name else row[name] for name in columns] for row in rows)
    else:
        writer.writerow(columns)
        writer.writerows([row[name] for name in columns] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def render_zip(event: str, piece_number: int, rows: list, header_style: str, file_count: int) -> bytes:
    """A ZIP of file_count CSV files, each with its header and a consecutive share of the rows."""
    share = max(1, math.ceil(len(rows) / file_count))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for index in range(file_count):
            name = f"{event}_{piece_number}_{index + 1}.csv"
            zipped.writestr(
                zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)),
                render_csv(event, rows[index * share : (index + 1) * share], header_style),
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
        self._signing_key = secrets.token_bytes(32)
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        self._redirected: set[str] = set()

    # -- API host --------------------------------------------------------------------------
    def create(self, body: bytes, behaviour: Behaviour) -> Response:
        """POST /v2/reports/raw: validates, takes a slot of the creation quota, answers 202 with the job's link."""
        _check_available(behaviour)
        start, end, event = _validated_request(body, behaviour)
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
            answer = {"id": job.id, "interval": job.interval}
            if job.pieces is None:
                if job.polls <= behaviour.report_pending_polls or behaviour.report_never_completes:
                    return {**answer, "status": "PENDING" if job.polls == 1 else "IN_PROGRESS"}
                if job.fails:
                    return {**answer, "status": "FAILED"}
                job.pieces = _pieces(job, data, behaviour)
            links = [
                {"from": piece.start, "to": piece.end, "status": "COMPLETED", "link": {"href": self._signed_link(job, number, behaviour)}}
                for number, piece in enumerate(job.pieces, start=1)
            ]
        return {**answer, "status": "COMPLETED", "links": links}

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
            return Response(200, render_csv(job.event, rows, behaviour.report_header_style), CSV_TYPE)
        body = render_zip(job.event, number, rows, behaviour.report_header_style, behaviour.report_files_per_zip)
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
