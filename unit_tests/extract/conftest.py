"""What the Extract API client's tests share: a clock that moves only when the client sleeps, answers to build jobs
and payloads from, and the windows they ask for."""

import csv
import io
import zipfile
from datetime import datetime, timedelta, timezone
from typing import List
from zoneinfo import ZoneInfo

import pytest

from source_freshchat.config import parse_settings
from source_freshchat.extract import ExtractClient

from ..conftest import API, CONFIG

REPORTS = f"{API}/reports/raw"
STORAGE = "https://exports.storage.example"
SIGNED = "X-Amz-Credential=AKIA&X-Amz-Signature=deadbeefsecret"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)
FOUR_DAYS_END = datetime(2026, 11, 5, tzinfo=timezone.utc)  # four pieces of a day, where Freshchat allows 24 hours
HOUR = timedelta(hours=1)
NEW_YORK = ZoneInfo("America/New_York")


class FakeClock:
    """Time that passes only when the client sleeps, so waits are counted, not spent."""

    def __init__(self) -> None:
        self.now = 100_000.0  # like a real monotonic clock, far from zero
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep, which the client uses in a sync
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(clock: FakeClock, **config) -> ExtractClient:
    return ExtractClient(parse_settings({**CONFIG, **config}), clock=clock, sleep=clock.sleep)


def links(extract: ExtractClient, read) -> List:
    """Every link of a read, each piece waited for in turn."""
    return [link for piece in extract.pieces(read) for link in piece.links]


def csv_bytes(rows: List[List[str]], bom: bool = True) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode()


def zip_bytes(*files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, content in enumerate(files):
            archive.writestr(f"part-{index}.csv", content)
    return buffer.getvalue()


def completed(job_id: str, *urls: str) -> dict:
    links = [
        {"from": f"2026-11-{i + 1:02d}T00:00:00Z", "to": f"2026-11-{i + 2:02d}T00:00:00Z", "status": "COMPLETED", "link": {"href": u}}
        for i, u in enumerate(urls)
    ]
    return {"id": job_id, "status": "COMPLETED", "interval": "P1D", "links": links}


TRANSCRIPT = [
    ["Conversation ID", "Message ID", "Message Parts", "Created Time"],
    ["c1", "m1", '[{"text": {"content": "Hello, world\nsecond line"}}]', "2026-11-02 10:00:00"],
    ["c2", "m2", "", "2026-11-03T10:00:00.000Z"],
]
