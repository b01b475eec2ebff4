"""One incremental stream per Extract API event (agent performance and conversation lifecycle).

Every stream is the same reader over a row of `extract.EVENTS`: the event, its time column (the cursor) and what
identifies a row. Its window is `[max(state - overlap, start_date, the 15-month floor), now]`; the job is the sync's
shared one for that event; each link of the finished job is a slice, so the CDK checkpoints after every link and a
restarted sync does not download finished links again. Values are typed by the stream's JSON schema (numbers,
date-times in ISO-8601 UTC, JSON text parsed), and columns the schema does not know are kept as text.

State: `{"<time column>": "<every event before this was read>"}`, the end of the window read so far.
"""

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream

from ..config import FreshchatSettings, format_timestamp
from ..extract import EVENTS, ExtractClient, ReportError, ReportEvent, ReportJob, ReportLink, Row, reach_floor, report_time, window_end
from ..state import moment_of
from .discovery import Selection

logger = logging.getLogger("airbyte")

KEY_COLUMN = "event_id"


class ReportStream(CheckpointMixin, Stream):
    """The rows of one Extract API event; see the module docstring."""

    def __init__(self, event: ReportEvent, settings: FreshchatSettings, extract: ExtractClient, selection: Selection) -> None:
        self.event = event
        self._settings = settings
        self._extract = extract
        self._through: Optional[datetime] = None
        self._job: Optional[ReportJob] = None
        self._links: List[ReportLink] = []
        self._converters: Optional[Dict[str, Any]] = None
        self._unconverted: Dict[str, int] = {}
        super().__init__()
        if self.name in selection:  # ask for the job now, so it generates while earlier streams read
            sync_mode, state = selection[self.name]
            self.state = dict(state or {})
            self._want(sync_mode)

    @property
    def name(self) -> str:
        return self.event.stream

    @property
    def primary_key(self) -> str:
        return self.event.natural_key or KEY_COLUMN

    @property
    def cursor_field(self) -> str:
        return self.event.time_column

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {self.cursor_field: format_timestamp(self._through)} if self._through else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        moment = moment_of((value or {}).get(self.cursor_field))
        if (value or {}).get(self.cursor_field) is not None and (moment is None or moment > datetime.now(timezone.utc)):
            logger.warning(f"Unreadable {self.name} state {str(value)[:200]!r}: this stream is read again from its earliest window.")
            moment = None
        self._through = moment

    def _want(self, sync_mode: SyncMode) -> None:
        self._start = self._window_start(sync_mode)
        self._job = self._extract.want(self.event.name, self._start, window_end())

    def _window_start(self, sync_mode: SyncMode) -> datetime:
        floor = reach_floor(datetime.now(timezone.utc))
        wanted = self._settings.start_date
        if sync_mode == SyncMode.incremental and self._through is not None:
            wanted = max(self._through - self._settings.feed_overlap, wanted or self._through - self._settings.feed_overlap)
        if wanted is None or wanted < floor:
            if wanted is not None:
                logger.info(
                    f"{self.name}: Freshchat keeps {self.event.name} reports for 15 months only, so this sync reads from "
                    f"{format_timestamp(floor)} instead of {format_timestamp(wanted)}"
                )
            return floor
        return wanted

    def stream_slices(
        self, *, sync_mode: SyncMode, cursor_field: Optional[List[str]] = None, stream_state: Optional[Mapping[str, Any]] = None
    ) -> Iterable[Optional[Mapping[str, Any]]]:
        if self._job is None:  # read outside a planned sync (e.g. a single stream in tests)
            self._want(sync_mode)
        assert self._job is not None
        try:
            self._links = self._extract.links(self._job)
        except ReportError as error:
            if not error.refused:
                raise
            logger.warning(f"The {self.name} stream is empty this sync: {error.message}")
            return
        for index, _ in enumerate(self._links):
            yield {"link": index}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        assert self._job is not None and stream_slice is not None  # stream_slices, which the CDK runs first, sets both
        index = stream_slice["link"]
        for row in self._extract.link_rows(self._job, index):
            moment = report_time(row.get(self.cursor_field))
            if moment is not None and moment < self._start:
                continue  # the job was shared with a consumer that needed an earlier start
            yield self.record_of(row)
        self._read_through(index)

    def _read_through(self, index: int) -> None:
        """After link `index` (links in time order): everything before its end, or the window's after the last, is read."""
        assert self._job is not None
        last = index == len(self._links) - 1
        moment = self._job.end if last else report_time(self._links[index].end)
        if moment is not None and (self._through is None or moment > self._through):
            self._through = min(moment, self._job.end)
        if last:
            for column, count in self._unconverted.items():
                logger.warning(f"{self.name}: {count} values of column {column} did not have the schema's type and were read as null")

    def record_of(self, row: Row) -> Dict[str, Any]:
        record: Dict[str, Any] = {}
        converters = self._column_converters()
        for column, value in row.items():
            convert = converters.get(column)
            if convert is None or value is None:
                record[column] = value
                continue
            try:
                record[column] = convert(value)
            except (ValueError, TypeError):
                record[column] = None
                self._unconverted[column] = self._unconverted.get(column, 0) + 1
        if not self.event.natural_key or not record.get(self.event.natural_key):
            record[KEY_COLUMN] = self.row_key(row)
        return record

    def row_key(self, row: Row) -> str:
        parts = [self.event.name, row.get(self.cursor_field) or "", *(row.get(column) or "" for column in self.event.identity)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def _column_converters(self) -> Dict[str, Any]:
        if self._converters is None:
            self._converters = {}
            for column, schema in self.get_json_schema().get("properties", {}).items():
                types = set(schema.get("type") or [])
                if schema.get("format") == "date-time":
                    self._converters[column] = iso_time
                elif "number" in types:
                    self._converters[column] = number
                elif types & {"array", "object"}:
                    self._converters[column] = json.loads
        return self._converters


def iso_time(value: str) -> str:
    moment = report_time(value)
    if moment is None:
        raise ValueError(value)
    return format_timestamp(moment)


def number(value: str) -> float:
    """Whole numbers stay ints, so a duration of 42 s reads as 42, not 42.0."""
    parsed = float(value)
    return int(parsed) if parsed.is_integer() and "." not in value else parsed


def report_streams(settings: FreshchatSettings, extract: ExtractClient, selection: Selection) -> List[ReportStream]:
    return [ReportStream(event, settings, extract, selection) for event in EVENTS.values()]
