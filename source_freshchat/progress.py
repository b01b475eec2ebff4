"""Progress of a sync: row estimates that Airbyte's UI shows as a progress bar, and a steady log line per stream.

Users know their count from the first page of the listing (`pagination.total_items`).
Conversations and messages are reached through users, so their estimate is the records per user
walked so far times the users to walk, refreshed as the walk learns, not per record.
"""

import logging
import threading
import time
from typing import Callable, Dict, Iterable, Iterator, Mapping, Optional

from airbyte_cdk.models import AirbyteEstimateTraceMessage, AirbyteTraceMessage, EstimateType, TraceType
from airbyte_cdk.sources.streams.core import StreamData

LOG_EVERY_SECONDS = 10.0
# An estimate is sent again once it has moved this much from the last one sent.
ESTIMATE_CHANGE = 0.05

logger = logging.getLogger("airbyte")


def estimate_message(stream: str, rows: int) -> AirbyteTraceMessage:
    return AirbyteTraceMessage(
        type=TraceType.ESTIMATE,
        emitted_at=time.time() * 1000,
        estimate=AirbyteEstimateTraceMessage(name=stream, type=EstimateType.STREAM, row_estimate=rows),
    )


class StreamProgress:
    """One stream's records, requests and users, counted from any thread; read on the thread that emits its records."""

    def __init__(self, stream: str, rate_limit_waits: Callable[[], str], clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.records = 0
        self.requests = 0
        self.listed_total: Optional[int] = None  # a list's pagination.total_items; for streams reached through users, the users
        self.users_walked = 0
        self.rows_per_user = False  # True for streams reached through users: their estimate scales with the users walked
        self._rate_limit_waits = rate_limit_waits
        self._clock = clock
        self._lock = threading.Lock()
        self._started: Optional[float] = None
        self._logged_at = 0.0
        self._estimate_sent: Optional[int] = None
        self._next_sample = 1  # users walked at which an estimate through users is next refreshed

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def listed(self, total: int) -> None:
        self.listed_total = total

    def users_done(self, count: int = 1) -> None:
        self.users_walked += count

    def estimate(self) -> Optional[int]:
        if self.listed_total is None:
            return None
        if not self.rows_per_user:
            return self.listed_total
        if not self.users_walked:
            return None
        return round(self.records * max(self.listed_total, self.users_walked) / self.users_walked)

    def track(self, records: Iterable[StreamData]) -> Iterator[StreamData]:
        """Passes records through, counting them, preceded by an estimate whenever it is due, and logs a line now and then."""
        if self._started is None:
            self._started = self._logged_at = self._clock()
        for record in records:
            rows = self._estimate_due()
            if rows is not None:
                self._estimate_sent = rows
                yield estimate_message(self.stream, rows)
            if isinstance(record, Mapping):
                self.records += 1
            yield record
            if self._clock() - self._logged_at >= LOG_EVERY_SECONDS:
                logger.info(self.line())
                self._logged_at = self._clock()

    def _estimate_due(self) -> Optional[int]:
        """The estimate, once it has moved enough to send again; through users, only each time the users walked have doubled."""
        rows = self.estimate()
        if rows is None or (self._estimate_sent is not None and abs(rows - self._estimate_sent) <= ESTIMATE_CHANGE * self._estimate_sent):
            return None
        if self.rows_per_user:
            if self.users_walked < self._next_sample:
                return None
            self._next_sample = 2 * self.users_walked
        return rows

    def line(self) -> str:
        elapsed = max(self._clock() - (self._started or self._clock()), 1e-9)
        rows = self.estimate()
        of = f" of ~{rows:,}" if rows else ""
        eta = ""
        if rows and self.records:
            eta = f", ETA {max(0.0, (rows - self.records) * elapsed / self.records):.0f}s"
        return (
            f"Progress of {self.stream}: {self.records:,} records{of}, {self.requests:,} requests ({self.requests / elapsed:.1f}/s), "
            f"{self._rate_limit_waits()}{eta}"
        )


class SyncProgress:
    """The progress of every stream of one sync, by stream name."""

    def __init__(self, rate_limit_waits: Callable[[], str] = lambda: "no rate-limit waits") -> None:
        self._rate_limit_waits = rate_limit_waits
        self._streams: Dict[str, StreamProgress] = {}
        self._lock = threading.Lock()

    def of(self, stream: str) -> StreamProgress:
        with self._lock:
            if stream not in self._streams:
                self._streams[stream] = StreamProgress(stream, self._rate_limit_waits)
            return self._streams[stream]
