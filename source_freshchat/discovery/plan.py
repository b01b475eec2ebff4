"""The planner: whether conversations and messages walk every user or follow the change feed this sync, and its record in their state."""

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Tuple

from airbyte_cdk.models import SyncMode

from ..base import PAGE_SIZE
from ..config import format_timestamp
from ..extract import ReportError, reach_floor, window_end
from ..state import RESUME_KEY, SAFETY_MARGIN, state_count, state_moment
from .change_feed import ChangeFeed
from .rolling import RollingPosition, RollingWalk
from .walk import ConversationRef, ParentWalk, Record, UserBatch

if TYPE_CHECKING:  # sync.py builds the planner
    from ..sync import Sync

logger = logging.getLogger("airbyte")

FAN_OUT_STREAMS = ("conversations", "messages")
# A feed sync costs about 5 job creations, their polls (a dozen each over a few minutes) and the changed conversations;
# a walk below this many requests costs about the same and does not wait minutes for reports.
AUTO_MIN_WALK_REQUESTS = 250

Selection = Mapping[str, Tuple[SyncMode, Mapping]]  # the streams a sync reads: name -> (sync mode, incoming state)

DISCOVERY_KEY = "discovery"


@dataclass(frozen=True)
class DiscoveryRecord:
    """How a conversations or messages stream last found its conversations, kept in its state under `discovery`.

    `{"last_full_walk": "<when the last complete walk started>", "changes_through": "<every change before this was read>",
      "feed_since_walk": true|false, "walk_users": U, "walk_conversations": C, "rolling": {...}, "report_windows": {"<event>": hours}}`
    `walk_users` and `walk_conversations` are the account's size, from the last full walk or the last complete rolling cycle;
    `rolling` is the rolling walk's `RollingPosition`, absent from states written before it. `report_windows` holds the
    longest window Freshchat accepted for a feed's event where it refused a longer one.
    """

    last_full_walk: Optional[datetime] = None
    changes_through: Optional[datetime] = None
    feed_since_walk: bool = False
    walk_users: int = 0
    walk_conversations: int = 0
    rolling: Optional[RollingPosition] = None
    report_windows: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: Optional[Mapping[str, Any]]) -> "DiscoveryRecord":
        raw = (state or {}).get(DISCOVERY_KEY)
        if not isinstance(raw, Mapping):
            return cls()
        now = datetime.now(timezone.utc)
        return cls(
            state_moment(raw, "last_full_walk", now),
            state_moment(raw, "changes_through", now),
            raw.get("feed_since_walk") is True,
            state_count(raw, "walk_users"),
            state_count(raw, "walk_conversations"),
            RollingPosition.from_state(raw.get("rolling"), now),
            dict(raw["report_windows"]) if isinstance(raw.get("report_windows"), Mapping) else {},
        )

    def to_state(self) -> Mapping[str, Any]:
        state = {
            "last_full_walk": format_timestamp(self.last_full_walk) if self.last_full_walk else None,
            "changes_through": format_timestamp(self.changes_through) if self.changes_through else None,
            "feed_since_walk": self.feed_since_walk,
            "walk_users": self.walk_users,
            "walk_conversations": self.walk_conversations,
            **({"report_windows": dict(self.report_windows)} if self.report_windows else {}),
        }
        return {**state, "rolling": self.rolling.to_state()} if self.rolling else state

    @property
    def walk_requests(self) -> int:
        """What the last full walk cost: the user pages, one listing per user, one detail per conversation."""
        return -(-self.walk_users // PAGE_SIZE) + self.walk_users + self.walk_conversations

    @property
    def walked_since(self) -> Optional[datetime]:
        """Every user was walked at or after this moment: the rolling walk's current cycle re-reads from it, and so would a full walk."""
        return self.rolling.reread_from if self.rolling else self.last_full_walk

    @property
    def slice_under_way(self) -> bool:
        return self.rolling is not None and self.rolling.slice_under_way


class ConversationSource(Protocol):
    def conversation_batches(
        self, fetch: Callable[[ConversationRef], List[Record]], on_behalf_of: str, resume_after: Optional[str] = None
    ) -> Iterator[UserBatch]: ...

    def remember_conversations(self, conversations: List[Tuple[Optional[str], List[ConversationRef]]]) -> None: ...


@dataclass(frozen=True)
class StreamPlan:
    """What one fan-out stream does this sync: where its conversations come from, and how far back it re-reads."""

    source: ConversationSource
    reread_from: Optional[datetime]
    resumes: bool  # whether the read resumes where an interrupted one checkpointed


class ConversationDiscovery:
    """Decides once per sync, for conversations and messages together, whether they walk or follow the feed."""

    def __init__(self, sync: "Sync") -> None:
        settings, extract, selection = sync.settings, sync.extract, sync.selection
        self._sync = sync
        self._settings = settings
        self._walk: ParentWalk = sync.walk
        self._extract = extract
        self._records = {name: DiscoveryRecord.from_state(state) for name, (_, state) in selection.items() if name in FAN_OUT_STREAMS}
        for record in self._records.values():
            for event, hours in record.report_windows.items():
                extract.learn_window(event, hours)
        self._feed: Optional[ChangeFeed] = None
        self._rolling: Dict[Tuple[int, Optional[str], Optional[str]], RollingWalk] = {}
        self._now = datetime.now(timezone.utc)
        if self._records:
            reason = self._walk_reason({name: selection[name] for name in self._records})
            if reason is None:
                self._feed = self._plan_feed()
            else:
                logger.info(f"Conversations and messages walk every user this sync: {reason}")

    def _walk_reason(self, selection: Selection) -> Optional[str]:
        settings = self._settings
        if settings.conversation_discovery == "walk":
            return "`conversation_discovery` is walk"
        now = self._now
        for name, (sync_mode, state) in selection.items():
            record = self._records[name]
            if sync_mode != SyncMode.incremental:
                return f"{name} is read in full refresh"
            if not state or not any(key not in (RESUME_KEY, DISCOVERY_KEY) for key in state):
                return f"first sync of {name}"
            if state.get(RESUME_KEY) and not record.slice_under_way:
                return f"{name} resumes an interrupted walk"
            if record.last_full_walk is None or record.changes_through is None:
                return f"the state of {name} records no complete walk yet"
            if record.rolling is None:
                return f"the state of {name} was written before the rolling walk, so it has no position to roll from"
            if record.changes_through - settings.feed_overlap < reach_floor(now):
                return f"the last sync of {name} is older than the Extract API's reach of 15 months"
        if settings.conversation_discovery == "auto":
            cost = max(record.walk_requests for record in self._records.values())
            if cost < AUTO_MIN_WALK_REQUESTS:
                return (
                    f"auto: the last full walk cost about {cost} requests, fewer than a change-feed sync would ({AUTO_MIN_WALK_REQUESTS})"
                )
        return None

    def _plan_feed(self) -> ChangeFeed:
        through = min(record.changes_through for record in self._records.values() if record.changes_through)
        start, end = through - self._settings.feed_overlap, window_end()
        cost = max(record.walk_requests for record in self._records.values())
        logger.info(
            f"Conversations and messages follow the change feed this sync ({self._settings.conversation_discovery}): events from "
            f"{format_timestamp(start)} to {format_timestamp(end)} and a slice of the rolling walk, instead of a walk of about "
            f"{cost} requests"
        )
        return ChangeFeed(self._sync, start, end)

    def _rolling_walk(self, feed: ChangeFeed, record: DiscoveryRecord) -> RollingWalk:
        """One per place in the users, so conversations and messages at the same place share one slice."""
        assert record.rolling is not None
        key = RollingWalk.place(record.rolling)
        if key not in self._rolling:
            self._rolling[key] = RollingWalk(self._sync, feed, record, self._now)
        return self._rolling[key]

    def for_stream(self, name: str, sync_mode: SyncMode, record: DiscoveryRecord) -> StreamPlan:
        """The plan of one stream; the first stream to ask waits for the feed's reports, and may fall back to the walk."""
        if self._feed is not None and sync_mode == SyncMode.incremental:
            try:
                self._feed.changed_conversations()
            except ReportError as error:
                if self._settings.conversation_discovery != "auto":
                    raise
                logger.warning(f"The change feed is unavailable this sync, so conversations and messages walk every user: {error.message}")
                self._feed = None
            else:
                rolling = self._rolling_walk(self._feed, record)
                rolling.begin(name)
                assert record.rolling is not None
                reread_from = min(self._feed.start, RollingWalk.reread_from(record.rolling))
                return StreamPlan(rolling, reread_from, rolling.resumes)
        walked_since = record.walked_since
        reread_from = walked_since - SAFETY_MARGIN if record.feed_since_walk and walked_since else None
        # A full walk starts over where a slice was interrupted: the users before the slice's checkpoint are not done.
        return StreamPlan(self._walk, reread_from, resumes=not record.slice_under_way)

    @staticmethod
    def while_reading(record: DiscoveryRecord, plan: StreamPlan) -> DiscoveryRecord:
        """The record a stream's checkpoints keep while it reads under `plan`: a rolling walk's slice is under way."""
        if isinstance(plan.source, RollingWalk) and record.rolling is not None:
            return replace(record, rolling=plan.source.position_during(record.rolling))
        return record

    @staticmethod
    def after_read(record: DiscoveryRecord, plan: StreamPlan, started: datetime, walk_size: Optional[Tuple[int, int]]) -> DiscoveryRecord:
        """The record a stream keeps once it has read to the end under `plan`."""
        if isinstance(plan.source, RollingWalk) and record.rolling is not None:
            position, cycle_size = plan.source.position_after(record.rolling)
            users, conversations = cycle_size or (record.walk_users, record.walk_conversations)
            windows = {**record.report_windows, **plan.source.feed.report_windows()}
            return DiscoveryRecord(record.last_full_walk, plan.source.feed.end, True, users, conversations, position, windows)
        users, conversations = walk_size or (record.walk_users, record.walk_conversations)
        return DiscoveryRecord(started, started, False, users, conversations, RollingPosition(reread_from=started), record.report_windows)
