"""Cursor state of the incremental streams: its shape, how far it may move, and when.

State shape, one per stream: `{"<cursor_field>": "<ISO-8601 UTC>"}`, e.g. `{"updated_time": "2025-07-10T19:47:55.442Z"}`.

Rules:
- A sync emits records whose cursor is at or after the lower bound `max(state, start_date)`: a record
  exactly at the cursor is read again (at-least-once; destinations de-duplicate by primary key).
- The new cursor is the latest value seen, but never later than the sync's start minus a safety margin,
  because records are not read in cursor order: a record changed while the sync runs may be behind
  a later one already seen, and must be picked up by the next sync.
- The cursor moves only when the stream has been read to the end; a failed sync keeps the old one.
"""

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode

from .config import format_timestamp, parse_timestamp

# Freshchat may show a record a little after its timestamp, and clocks differ: re-read this much.
SAFETY_MARGIN = timedelta(minutes=5)

logger = logging.getLogger("airbyte")


class Cursor:
    def __init__(self, field: str, start_date: Optional[datetime]) -> None:
        self.field = field
        self._start_date = start_date
        self._committed: Optional[datetime] = None
        self._lower_bound: Optional[datetime] = start_date
        self._latest_seen: Optional[datetime] = None
        self._sync_started = datetime.now(timezone.utc)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {self.field: format_timestamp(self._committed)} if self._committed else {}

    @state.setter
    def state(self, value: Optional[Mapping[str, Any]]) -> None:
        self._committed = self._parse_state(value or {})

    def _parse_state(self, value: Mapping[str, Any]) -> Optional[datetime]:
        raw = value.get(self.field)
        if raw is None:
            return None
        try:
            return parse_timestamp(str(raw))
        except ValueError:
            logger.warning(f"Ignoring unreadable {self.field} state {raw!r}: this stream is read again from the start date.")
            return None

    def begin(self, sync_mode: SyncMode) -> None:
        """Fixes the lower bound for this read: the state counts only in incremental mode."""
        self._sync_started = datetime.now(timezone.utc)
        self._latest_seen = None
        committed = self._committed if sync_mode == SyncMode.incremental else None
        self._lower_bound = max((moment for moment in (committed, self._start_date) if moment), default=None)

    @property
    def lower_bound(self) -> Optional[datetime]:
        return self._lower_bound

    def value_of(self, record: Mapping[str, Any]) -> Optional[datetime]:
        raw = record.get(self.field)
        if not isinstance(raw, str):
            return None
        try:
            return parse_timestamp(raw)
        except ValueError:
            return None

    def accepts(self, record: Mapping[str, Any]) -> bool:
        """True when the record is new to this sync; a record without a readable cursor is always kept."""
        moment = self.value_of(record)
        if moment is None:
            return True
        if self._latest_seen is None or moment > self._latest_seen:
            self._latest_seen = moment
        return self._lower_bound is None or moment >= self._lower_bound

    def is_before_lower_bound(self, record: Mapping[str, Any]) -> bool:
        moment = self.value_of(record)
        return moment is not None and self._lower_bound is not None and moment < self._lower_bound

    def finish(self) -> None:
        """The stream was read to the end: move the cursor as far as is safe."""
        if self._latest_seen is None:
            return
        safe = min(self._latest_seen, self._sync_started - SAFETY_MARGIN)
        if self._committed is None or safe > self._committed:
            self._committed = safe


class CursorStateMixin:
    """Gives an incremental stream the CDK's `state` property, backed by its `Cursor`."""

    state_cursor: Cursor

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self.state_cursor.state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self.state_cursor.state = value
