"""The Extract API part of `diagnose`: one small report job per event, and one long window on one event.

Jobs are created one per `creation_interval_seconds` (Freshchat's reported quota is about one a
minute), the long window first, and polled meanwhile. Of each: accepted or refused (Freshchat's
answer), the time to generate, the links and their storage host, ZIP or plain CSV, the header row as
served, the shape of the time column's values, and the `interval` echo against the window asked,
which gives the zone report times are written in. Of a row only its count and the shape of its time
are kept. The job's own create/poll loop, apart from the sync's job queue, keeps every raw answer.
"""

import csv
import io
import re
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, Callable, Dict, List, Optional, Sequence
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import format_timestamp
from ..extract import ReportError
from ..extract.download import StorageClient
from ..extract.jobs import DONE_STATUSES, FAILED_STATUSES, REPORTS_PATH
from ..extract.payload import normalise_column, report_rows
from ..extract.times import has_offset, interval_offsets, report_time, window_end
from ..streams.report_events import EVENTS
from .common import THROTTLED_RETRIES, Api, scrub, time_format, time_shape

LONG_WINDOW_EVENT = "Conversation-Created"  # every account has it, and it is the change feed's main event
LINKS_DOWNLOADED = 3  # links of one job downloaded at most, until one holds a row
TIME_FORMATS_KEPT = 3
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class JobProbe:
    event: str
    start: datetime
    end: datetime
    label: str
    finding: Dict[str, Any] = field(default_factory=dict)
    job_id: Optional[str] = None  # never reported
    interval: Any = None  # the poll's echo; reported as a shape and an offset only
    created_at: float = 0.0
    next_poll_at: float = 0.0
    creation_attempts: int = 0
    done: bool = False


def offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def interval_finding(interval: Any, start: datetime, end: datetime) -> Dict[str, Any]:
    """The `interval` echo against the window asked: its shape, whether it says its zone, and the UTC offset it shows."""
    if not interval:
        return {"echo": "absent"}
    text = str(interval)
    finding: Dict[str, Any] = {"shape": re.sub(r"\d", "9", text)}
    offsets = interval_offsets(text, start, end)
    if offsets is None:
        finding["echo"] = "not the window asked, or unreadable"
        return finding
    finding["echo"] = "the window asked"
    finding["written_with_offset"] = has_offset(re.split(r"[/_]", text.strip())[0])
    finding["utc_offset"] = offset_text(offsets[0])
    if offsets[1] != offsets[0]:
        finding["utc_offset_at_end"] = offset_text(offsets[1])
    return finding


def served_header(payload: IO[bytes]) -> Dict[str, Any]:
    """The payload's kind, its number of CSV files and the header row of the first, exactly as served."""
    payload.seek(0)
    if payload.read(4) != ZIP_MAGIC:
        payload.seek(0)
        return {"payload": "csv", "files": 1, "header": _first_row(payload)}
    payload.seek(0)
    with zipfile.ZipFile(payload) as archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
        csv_members = [member for member in members if member.filename.lower().endswith(".csv")] or members
        if not csv_members:
            return {"payload": "zip", "files": 0, "header": []}
        with archive.open(csv_members[0]) as raw:
            return {"payload": "zip", "files": len(csv_members), "header": _first_row(raw)}


def _first_row(raw: IO[bytes]) -> List[str]:
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        return next(csv.reader(text), [])
    finally:
        text.detach()


def time_column_of(event: str, columns: Sequence[str]) -> Optional[str]:
    """The event's time column as the connector expects it, else the first column that reads as a time."""
    expected = EVENTS[event].time_column if event in EVENTS else None
    if expected in columns:
        return expected
    return next((column for column in columns if column.endswith(("_at", "_time")) or column in ("time", "date")), None)


def payload_finding(payload: IO[bytes], event: str) -> Dict[str, Any]:
    """What a downloaded report holds, without any of its values: kind, files, columns, rows, time formats."""
    finding = served_header(payload)
    columns = [normalise_column(name) for name in finding["header"]]
    time_column = time_column_of(event, columns)
    finding.update(columns=columns, time_column=time_column, time_column_expected=EVENTS[event].time_column)
    rows, formats = 0, []
    for row in report_rows(payload):
        rows += 1
        value = row.get(time_column) if time_column else None
        written = time_format(value) if value else None
        if value and written is None:
            written = {"format": "unrecognised"}
        if written and written not in formats and len(formats) < TIME_FORMATS_KEPT:
            formats.append(written)
    finding.update(rows=rows, time_formats=formats)
    return finding


class ReportProbes:
    """Creates, polls and downloads the diagnosis's report jobs, within the creation quota."""

    def __init__(self, api: Api, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.pace = api.pace
        self.say = say
        self.clock = clock
        self.downloads = StorageClient(api.sleep)
        self.downloaded = 0

    def run(self, events: Sequence[str], window: timedelta, long_window: timedelta) -> Dict[str, Any]:
        end = window_end()
        long_event = LONG_WINDOW_EVENT if LONG_WINDOW_EVENT in events else events[0]
        jobs = [JobProbe(long_event, end - long_window, end, f"{long_window.days} days")]
        jobs += [JobProbe(event, end - window, end, f"{window.total_seconds() / 3600:g} h") for event in events]
        interval = self.pace.creation_interval_seconds
        self.say(
            f"Extract API: {len(jobs)} report jobs, created one every {interval:g} s (the last after about "
            f"{duration_text((len(jobs) - 1) * interval)}), each polled every {self.pace.poll_seconds:g} s until ready "
            f"(for at most {duration_text(self.pace.job_wait_seconds)})"
        )
        self._work(jobs)
        return {
            "window_hours": round(window.total_seconds() / 3600, 2),
            "long_window_days": long_window.days,
            "long_window": {"event": long_event, **jobs[0].finding},
            "events": {job.event: job.finding for job in jobs[1:]},
            "quota": quota_finding(jobs),
            "downloads": self.downloaded,
        }

    def _work(self, jobs: List[JobProbe]) -> None:
        waiting, creating, finished = list(jobs), [], 0
        create_at = self.clock()
        while waiting or creating:
            now = self.clock()
            if waiting and now >= create_at:
                job = waiting[0]
                create_at = self._create(job, now)
                if job.job_id or job.done:
                    waiting.pop(0)
                if job.job_id:
                    creating.append(job)
            for job in [job for job in creating if job.next_poll_at <= self.clock()]:
                self._poll(job)
            for job in [job for job in jobs if job.done and "reported" not in job.finding]:
                finished += 1
                job.finding["reported"] = True
                self.say(f"[{finished}/{len(jobs)}] {job.event}, {job.label}: {progress_text(job.finding)}")
            creating = [job for job in creating if not job.done]
            moments = [job.next_poll_at for job in creating] + ([create_at] if waiting else [])
            if moments:
                self.api.sleep(max(0.0, min(moments) - self.clock()))
        for job in jobs:
            job.finding.pop("reported", None)

    def _create(self, job: JobProbe, now: float) -> float:
        """Creates the job (or records why not); returns when the next creation may go."""
        body = {"start": format_timestamp(job.start), "end": format_timestamp(job.end), "event": job.event, "format": "csv"}
        answer = self.api.call("POST", REPORTS_PATH, json=body, wait_if_throttled=False)
        job.creation_attempts += 1
        created = answer.body() if answer.ok else None
        if isinstance(created, dict) and created.get("id"):
            job.job_id, job.created_at = str(created["id"]), self.clock()
            job.next_poll_at = job.created_at + self.pace.poll_seconds
            job.finding.update(outcome="accepted", creation_status=answer.status)
            return now + self.pace.creation_interval_seconds
        if answer.status == 429:
            retry_after = answer.retry_after
            job.finding.setdefault("throttled", []).append(
                {
                    **answer.refusal(self.api.settings.api_key),
                    "retry_after_seconds": None if retry_after is None else round(retry_after),
                    "headers": sorted(name for name in answer.response.headers if name.lower().startswith(("x-ratelimit", "retry-after"))),
                }
            )
            wait = self.pace.creation_interval_seconds if retry_after is None else retry_after
            if wait <= self.pace.quota_wait_seconds and job.creation_attempts <= THROTTLED_RETRIES:
                return now + wait
            job.finding["outcome"] = "quota"
            job.done = True
            return now + self.pace.creation_interval_seconds
        job.finding.update(outcome="refused", **answer.refusal(self.api.settings.api_key))
        if answer.ok:
            job.finding["message"] = "the answer has no job id"
        job.done = True
        return now

    def _poll(self, job: JobProbe) -> None:
        answer = self.api.call("GET", f"{REPORTS_PATH}/{quote(job.job_id or '', safe='')}")
        now = self.clock()
        body = answer.body()
        if not answer.ok or not isinstance(body, dict):
            job.finding.update(outcome="poll refused", **answer.refusal(self.api.settings.api_key))
            job.done = True
            return
        status = str(body.get("status") or "").upper()
        statuses = job.finding.setdefault("statuses", [])
        if status not in statuses:
            statuses.append(status)
        job.interval = body.get("interval", job.interval)
        links = [link for link in body.get("links") or [] if isinstance(link, dict)]
        link_statuses = [str(link.get("status") or "COMPLETED").upper() for link in links]
        if status in FAILED_STATUSES or any(link_status in FAILED_STATUSES for link_status in link_statuses):
            job.finding.update(outcome="failed", generation_seconds=round(now - job.created_at, 1))
            job.done = True
        elif status in DONE_STATUSES and all(link_status in DONE_STATUSES for link_status in link_statuses):
            job.finding.update(outcome="completed", generation_seconds=round(now - job.created_at, 1))
            self._read_links(job, links)
            job.done = True
        elif now - job.created_at > self.pace.job_wait_seconds:
            job.finding.update(outcome="not finished", generation_seconds=round(now - job.created_at, 1))
            job.done = True
        else:
            job.next_poll_at = now + self.pace.poll_seconds

    def _read_links(self, job: JobProbe, links: List[Dict[str, Any]]) -> None:
        urls = [urljoin(self.api.settings.origin, _href(link)) for link in links if _href(link)]
        spans = sorted(
            {
                round((report_time(link.get("to")) - report_time(link.get("from"))).total_seconds() / 3600, 1)
                for link in links
                if report_time(link.get("from")) and report_time(link.get("to"))
            }
        )
        job.finding.update(
            links=len(links),
            link_hours=spans,
            link_time_shape=time_shape(links[0].get("from")) if links else None,
            storage_hosts=sorted({urlsplit(url).hostname or "" for url in urls}),
            storage_schemes=sorted({urlsplit(url).scheme for url in urls}),
            interval_echo=interval_finding(job.interval, job.start, job.end),
        )
        for number, url in enumerate(urls[:LINKS_DOWNLOADED], start=1):
            try:
                payload = self.downloads.download(url, f"part {number} of the {job.event} report")
            except ReportError as error:
                job.finding["download"] = scrub(error.message, self.api.settings.api_key)
                return
            self.downloaded += 1
            with payload:
                try:
                    job.finding.update(payload_finding(payload, job.event))
                except (zipfile.BadZipFile, UnicodeDecodeError, csv.Error) as error:
                    job.finding["download"] = f"unreadable: {type(error).__name__}"
                    return
            if job.finding["rows"]:
                return


def _href(link: Dict[str, Any]) -> Optional[str]:
    inner = link.get("link")
    return inner.get("href") if isinstance(inner, dict) else link.get("href")


def duration_text(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def progress_text(finding: Dict[str, Any]) -> str:
    outcome = finding.get("outcome")
    if outcome in ("refused", "poll refused"):
        return f"{outcome}, HTTP {finding.get('status')}: {finding.get('message')}"
    if outcome == "quota":
        last = finding["throttled"][-1]
        return f"refused by the quota, HTTP 429: {last['message']} (Retry-After {last['retry_after_seconds']})"
    text = f"{outcome} after {finding.get('generation_seconds')} s"
    if outcome == "completed":
        text += f", {finding['links']} link(s)"
        if "payload" in finding:
            text += f", {finding['payload']}, {len(finding['columns'])} columns, {finding['rows']} rows"
        if "download" in finding:
            text += f", download: {finding['download']}"
    return text


def quota_finding(jobs: Sequence[JobProbe]) -> Dict[str, Any]:
    """The creation quota's answers; its scope is inferred from what was accepted after a job was refused for good."""
    throttled = [answer for job in jobs for answer in job.finding.get("throttled", [])]
    refused_at = next((index for index, job in enumerate(jobs) if job.finding.get("outcome") == "quota"), None)
    finding: Dict[str, Any] = {
        "throttled_creations": len(throttled),
        "retry_after_seconds": sorted({answer["retry_after_seconds"] for answer in throttled if answer["retry_after_seconds"] is not None}),
        "without_retry_after": sum(answer["retry_after_seconds"] is None for answer in throttled),
        "messages": sorted({answer["message"] for answer in throttled})[:3],
        "refused_events": [job.event for job in jobs if job.finding.get("outcome") == "quota"],
    }
    later = [job for job in jobs[refused_at + 1 :] if job.event != jobs[refused_at].event] if refused_at is not None else []
    if not later:
        finding["scope"] = "unknown" if refused_at is not None else "not reached"
    elif any(job.finding.get("outcome") not in ("quota", "refused") for job in later):
        finding["scope"] = "per event"
    else:
        finding["scope"] = "per account"
    return finding


def zone_finding(events: Dict[str, Dict[str, Any]], account_zone: Any, start: datetime) -> Dict[str, Any]:
    """The zone report times are written in, from the first `interval` echo of the window asked; and whether the
    account's own `timezone` (kept out of the report) has that offset."""
    echoes = [finding["interval_echo"] for finding in events.values() if finding.get("interval_echo", {}).get("echo") == "the window asked"]
    finding: Dict[str, Any] = {}
    if not echoes:
        finding["report_times"] = "unknown: no interval echo of the window asked"
    elif echoes[0]["written_with_offset"]:
        finding["report_times"] = "written with their offset"
    else:
        finding["report_times"] = f"wall clock without offset, {echoes[0]['utc_offset']}"
    if not account_zone:
        finding["account_timezone"] = "absent"
        return finding
    try:
        offset = offset_text(start.astimezone(ZoneInfo(str(account_zone))).utcoffset())
    except (ZoneInfoNotFoundError, ValueError):
        finding["account_timezone"] = "not a zone name"
        return finding
    if echoes and not echoes[0]["written_with_offset"]:
        finding["account_timezone"] = "agrees" if offset == echoes[0]["utc_offset"] else f"differs ({offset})"
    else:
        finding["account_timezone"] = "present"
    return finding
