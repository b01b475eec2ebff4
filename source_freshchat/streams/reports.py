"""One incremental stream per Extract API event (agent performance and conversation lifecycle).

Every stream is the same reader over a row of `report_events.EVENTS`: the event, its time column (the cursor) and what
identifies a row. Its window is `[max(state - overlap, start_date, the 15-month floor), now]`, read as the sync's
shared `ReportRead` of that event: pieces no longer than Freshchat accepts, oldest first. Each link of each finished
piece is a slice, so the CDK checkpoints after every link and a restarted sync does not download finished links
again. Values are typed by the stream's JSON schema (numbers, date-times in ISO-8601 UTC, JSON text parsed), and
columns the schema does not know are kept as text.

Where Freshchat's quota stops the read (see `report_quota_wait_minutes`), the stream ends this sync at its last finished
piece, says how far it got, and the next sync goes on from there.

State: `{"<time column>": "<every event before this was read>", "report_window_hours": <longest window accepted>}`;
the second key only once Freshchat has refused a longer window, so that the next sync asks in pieces at once.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream

from ..config import format_timestamp
from ..extract import ZONE_MARGIN, ReportError, ReportJob, ReportRead, Row, reach_floor, window_end
from ..state import moment_of
from .report_events import EVENTS, ReportEvent

if TYPE_CHECKING:  # sync.py builds the Extract API client these streams read through
    from ..sync import Sync

logger = logging.getLogger("airbyte")

KEY_COLUMN = "event_id"
WINDOW_KEY = "report_window_hours"


class ReportStream(CheckpointMixin, Stream):
    """The rows of one Extract API event; see the module docstring."""

    def __init__(self, event: ReportEvent, sync: "Sync") -> None:
        selection = sync.selection
        self.event = event
        self._settings = sync.settings
        self._extract = sync.extract
        self._through: Optional[datetime] = None
        self._read: Optional[ReportRead] = None
        self._pieces: List[ReportJob] = []  # the pieces handed out as slices so far, in time order
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
        state: MutableMapping[str, Any] = {self.cursor_field: format_timestamp(self._through)} if self._through else {}
        window = self._extract.window_hours(self.event.name)
        if window is not None:
            state[WINDOW_KEY] = window
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        moment = moment_of((value or {}).get(self.cursor_field))
        if (value or {}).get(self.cursor_field) is not None and (moment is None or moment > datetime.now(timezone.utc)):
            logger.warning(f"Unreadable {self.name} state {str(value)[:200]!r}: this stream is read again from its earliest window.")
            moment = None
        self._through = moment
        self._extract.learn_window(self.event.name, (value or {}).get(WINDOW_KEY))

    def _want(self, sync_mode: SyncMode) -> None:
        self._start = self._window_start(sync_mode)
        self._read = self._extract.want(self.event.name, self._start, window_end())

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
        if self._read is None:  # read outside a planned sync (e.g. a single stream in tests)
            self._want(sync_mode)
        assert self._read is not None
        try:
            for piece in self._extract.pieces(self._read):
                self._pieces.append(piece)
                # A piece without links (nothing happened in its window) is a slice too: the CDK checkpoints only after a
                # slice, so a sync whose pieces were all empty would otherwise keep the old state and ask for them again.
                for index in range(len(piece.links)) if piece.links else [None]:
                    yield {"piece": len(self._pieces) - 1, "link": index}
        except ReportError as error:
            if not error.refused:
                raise
            logger.warning(f"The {self.name} stream is empty this sync: {error.message}")
            return
        if self._read.deferred is not None:
            self._warn_deferred(self._read.deferred)
        for column, count in self._unconverted.items():
            logger.warning(f"{self.name}: {count} values of column {column} did not have the schema's type and were read as null")

    def _warn_deferred(self, deferred: ReportError) -> None:
        assert self._read is not None
        total = self._read.end - self._start
        done = max(timedelta(0), (self._through or self._start) - self._start)
        days = timedelta(days=1)
        logger.warning(f"{self.name}: {done / days:.3g} of {total / days:.3g} days read; continues next sync. {deferred.message}")

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        assert stream_slice is not None  # stream_slices, which the CDK runs first, hands out the piece
        piece, index = self._pieces[stream_slice["piece"]], stream_slice["link"]
        if index is not None:
            for row in self._extract.link_rows(piece, index):
                moment = self._extract.report_time(row.get(self.cursor_field))
                if moment is not None and moment < self._start - ZONE_MARGIN:
                    continue  # the read was shared with a consumer that needed an earlier start
                yield self.record_of(row)
        self._read_through(piece, index)

    def _read_through(self, piece: ReportJob, index: Optional[int]) -> None:
        """After link `index` of a piece (links in time order; None: it has none): everything before its end, or the piece's
        after the last, is read.

        A link's end counts only where its zone is certain; otherwise the state waits for the end of the piece, a time
        this connector asked for.
        """
        if index is None or index == len(piece.links) - 1:
            moment: Optional[datetime] = piece.end
        else:
            end = piece.links[index].end
            moment = self._extract.report_time(end) if self._extract.time_is_certain(end) else None
        if moment is not None and (self._through is None or moment > self._through):
            self._through = min(moment, piece.end)

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
                    self._converters[column] = self._iso_time
                elif "number" in types:
                    self._converters[column] = number
                elif types & {"array", "object"}:
                    self._converters[column] = json.loads
        return self._converters

    def _iso_time(self, value: str) -> str:
        moment = self._extract.report_time(value)
        if moment is None:
            raise ValueError(value)
        return format_timestamp(moment)


def number(value: str) -> float:
    """Whole numbers stay ints, so a duration of 42 s reads as 42, not 42.0."""
    parsed = float(value)
    return int(parsed) if parsed.is_integer() and "." not in value else parsed


def report_streams(sync: "Sync") -> List[ReportStream]:
    return [ReportStream(event, sync) for event in EVENTS.values()]
