"""Cursor state of the incremental streams: its shape, how far it may move, and when.

State of a stream, between syncs: `{"<cursor_field>": "<ISO-8601 UTC>"}`, e.g.
`{"updated_time": "2025-07-10T19:47:55.442Z"}`. While a conversations or messages read is under
way, its checkpoints add where to resume:
`{"updated_time": "...", "resume": {"after_user_created": "...", "latest_seen": "...", "sync_started": "..."}}`.
Conversations and messages also keep, beside the cursor, how they last found their conversations under
`discovery` (documented at `DiscoveryRecord` in discovery/plan.py), and messages whether new messages move a
conversation's updated_time under `updated_time_covers_messages` (at `EVIDENCE_KEY` in streams/messages.py).
The report streams keep their own shape (streams/reports.py).

Rules:
- A sync emits records whose cursor is at or after the lower bound `max(state, start_date)`: a record
  exactly at the cursor is read again (at-least-once; destinations de-duplicate by primary key).
- The new cursor is the latest value seen, but never later than the sync's start minus a safety
  margin, because records are not read in cursor order: a record changed while the sync runs may be
  behind a later one already seen, and must be picked up by the next sync.
- The cursor moves only when the stream has been read to the end. Until then a checkpoint keeps the
  old cursor and says which users are done (users are listed oldest first), so a sync that is killed
  and restarted with its last checkpoint skips them, and still starts the next cursor from the first
  attempt's start.
- A state this version cannot read (an older shape, a corrupted value, a cursor in the future) is
  logged and the stream is read again from the start date: never a crash, never a silent skip.
"""

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode

from .config import format_timestamp, parse_timestamp

# Freshchat may show a record a little after its timestamp, and clocks differ: re-read this much.
SAFETY_MARGIN = timedelta(minutes=5)
RESUME_KEY = "resume"

logger = logging.getLogger("airbyte")


def moment_of(raw: Any) -> Optional[datetime]:
    """A state or record timestamp as an aware datetime; epoch seconds or milliseconds are accepted from older states."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, float)):
        return datetime.fromtimestamp(raw / 1000 if raw > 1e11 else raw, tz=timezone.utc)
    if isinstance(raw, str):
        try:
            return parse_timestamp(raw.strip())
        except ValueError:
            return None
    return None


class Cursor:
    def __init__(self, field: str, start_date: Optional[datetime], stream_keys: Iterable[str] = ()) -> None:
        self.field = field
        self._not_cursor_keys = {RESUME_KEY, *stream_keys}  # state keys a stream keeps beside the cursor
        self._start_date = start_date
        self._committed: Optional[datetime] = None
        self._incoming_resume: Mapping[str, Any] = {}
        self._lower_bound: Optional[datetime] = start_date
        self._latest_seen: Optional[datetime] = None
        self._sync_started = datetime.now(timezone.utc)
        self._resume_after: Optional[str] = None
        self._finished = False

    # -- state in and out ---------------------------------------------------------------------
    @property
    def state(self) -> MutableMapping[str, Any]:
        state: MutableMapping[str, Any] = {self.field: format_timestamp(self._committed)} if self._committed else {}
        if not self._finished and self._resume_after:
            state[RESUME_KEY] = {
                "after_user_created": self._resume_after,
                "latest_seen": format_timestamp(self._latest_seen) if self._latest_seen else None,
                "sync_started": format_timestamp(self._sync_started),
            }
        return state

    @state.setter
    def state(self, value: Optional[Mapping[str, Any]]) -> None:
        self._committed = self._read_cursor(value or {})
        resume = (value or {}).get(RESUME_KEY)
        self._incoming_resume = resume if isinstance(resume, Mapping) and moment_of(resume.get("after_user_created")) else {}

    def _read_cursor(self, state: Mapping[str, Any]) -> Optional[datetime]:
        value = {key: item for key, item in state.items() if key not in self._not_cursor_keys}
        if not value:
            return None
        moment = moment_of(value.get(self.field)) if self.field in value else self._from_older_shape(value)
        if moment is None:
            logger.warning(f"Unreadable {self.field} state {str(value)[:200]!r}: this stream is read again from the start date.")
            return None
        if moment > datetime.now(timezone.utc):
            logger.warning(
                f"The {self.field} state {format_timestamp(moment)} is in the future: this stream is read again from the start date."
            )
            return None
        return moment

    def _from_older_shape(self, value: Mapping[str, Any]) -> Optional[datetime]:
        """Per-partition states (the CDK's `{"states": [{"cursor": {...}}]}` or `{<id>: {<field>: ...}}`): the earliest cursor is safe."""
        partitions: Iterable[Any] = value.get("states") if isinstance(value.get("states"), list) else value.values()
        moments = []
        for partition in partitions:
            cursor = partition.get("cursor", partition) if isinstance(partition, Mapping) else None
            moment = moment_of(cursor.get(self.field)) if isinstance(cursor, Mapping) else None
            if moment is None:
                return None
            moments.append(moment)
        return min(moments, default=None)

    # -- one read -----------------------------------------------------------------------------
    def begin(self, sync_mode: SyncMode, reread_from: Optional[datetime] = None, resumes: bool = True) -> None:
        """Fixes the lower bound for this read; state and checkpoints count only in incremental mode.

        `reread_from` lowers the bound below the cursor for this read, where records older than the cursor may have
        been missed (a change-feed window, a rolling walk's slice, or a full walk after feed syncs).
        `resumes=False`: this read starts its users over, whatever an interrupted one checkpointed (it walks other users).
        """
        incremental = sync_mode == SyncMode.incremental
        committed = self._committed if incremental else None
        if committed is not None and reread_from is not None:
            committed = min(committed, reread_from)
        resume = self._incoming_resume if incremental else {}
        self._lower_bound = max((moment for moment in (committed, self._start_date) if moment), default=None)
        self._sync_started = min(datetime.now(timezone.utc), moment_of(resume.get("sync_started")) or datetime.now(timezone.utc))
        self._latest_seen = moment_of(resume.get("latest_seen"))
        self._resume_after = resume.get("after_user_created") if resumes else None
        self._finished = False
        if self._resume_after:
            logger.info(f"Resuming the {self.field} cursor's interrupted sync after users created up to {self._resume_after}")

    @property
    def lower_bound(self) -> Optional[datetime]:
        return self._lower_bound

    @property
    def resume_after(self) -> Optional[str]:
        """created_time of the last user whose records an interrupted sync emitted completely."""
        return self._resume_after

    def value_of(self, record: Mapping[str, Any]) -> Optional[datetime]:
        return moment_of(record.get(self.field)) if isinstance(record.get(self.field), str) else None

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

    def users_done_through(self, user_created: Optional[str]) -> None:
        """Every record of the users created up to this moment has been emitted; None: unknown, so a restart starts over."""
        self._resume_after = user_created

    @property
    def sync_started(self) -> datetime:
        return self._sync_started

    def finish(self, advance: bool = True) -> None:
        """The stream was read to the end: move the cursor as far as is safe (or, when told the read missed some, not at all)."""
        self._finished = True
        if self._latest_seen is None or not advance:
            return
        safe = min(self._latest_seen, self._sync_started - SAFETY_MARGIN)
        if self._committed is None or safe > self._committed:
            self._committed = safe


def state_moment(raw: Mapping[str, Any], key: str, now: datetime) -> Optional[datetime]:
    value = moment_of(raw.get(key))
    return value if value is not None and value <= now else None


def state_count(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def state_user_created(raw: Mapping[str, Any], key: str) -> Optional[str]:
    """A user's created_time as Freshchat wrote it: kept verbatim, since it goes back as a created_from/created_to filter."""
    value = raw.get(key)
    return value if isinstance(value, str) and moment_of(value) is not None else None


class CursorStateMixin:
    """Gives an incremental stream the CDK's `state` property, backed by its `Cursor`."""

    state_cursor: Cursor

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self.state_cursor.state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self.state_cursor.state = value
