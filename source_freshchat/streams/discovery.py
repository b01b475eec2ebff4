"""Where conversations and messages find their conversations: the walk of every user, or the change feed.

The walk (`ParentWalk`) lists every user's conversations: complete, but it costs a request per user and per
conversation on every sync. The change feed asks the Extract API which conversations events touched in a window
(created, assigned, resolved, a message sent) and fetches only those. What events cannot show (a property edited
alone; user messages where Chat-Transcript is refused) is caught by the rolling walk (rolling.py): each feed sync
also walks a slice of the users, so that every user is walked at least once per `full_walk_interval_days`.

The choice is made once per sync for both streams, from their states, and logged with its reason:
- a full refresh, a first sync, an interrupted full walk to resume, a state from before the rolling walk, or a last
  sync older than the Extract API's reach all walk;
- `walk` always walks; `extract` follows the feed and fails loudly when the Extract API cannot serve it;
- `auto` follows the feed when the last full walk cost more than a feed sync would (see AUTO_MIN_WALK_REQUESTS),
  and walks for this sync, with one warning, when the Extract API is missing, refuses an event, or never finishes.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Tuple

from airbyte_cdk.models import SyncMode

from ..base import sync_resources
from ..config import FreshchatSettings, format_timestamp
from ..extract import ZONE_MARGIN, ExtractClient, ReportError, ReportRead, reach_floor, window_end
from ..state import DISCOVERY_KEY, RESUME_KEY, SAFETY_MARGIN, DiscoveryRecord, RollingPosition
from .parents import ConversationRef, ParentWalk, Record, UserBatch, ordered_parallel_map
from .report_events import EVENTS
from .rolling import RollingWalk

logger = logging.getLogger("airbyte")

FAN_OUT_STREAMS = ("conversations", "messages")
CONVERSATION_EVENTS = ("Conversation-Created", "Conversation-Agent-Assigned", "Conversation-Group-Assigned", "Conversation-Resolved")
ALL_MESSAGES_EVENT = "Chat-Transcript"  # every actor's messages; used in production but not in Freshchat's documented list
AGENT_MESSAGES_EVENT = "Message-Sent"  # documented, but agents' messages only
# A feed sync costs about 5 job creations, their polls (a dozen each over a few minutes) and the changed conversations;
# a walk below this many requests costs about the same and does not wait minutes for reports.
AUTO_MIN_WALK_REQUESTS = 250

Selection = Mapping[str, Tuple[SyncMode, Mapping]]  # the streams a sync reads: name -> (sync mode, incoming state)


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


class ChangeFeed:
    """The conversations that report events touched in [start, end], then the same per-conversation fetch as the walk."""

    def __init__(self, settings: FreshchatSettings, extract: ExtractClient, start: datetime, end: datetime) -> None:
        self._settings = settings
        self._extract = extract
        self.start, self.end = start, end
        self._reads: Dict[str, ReportRead] = {
            event: extract.want(event, start, end) for event in (*CONVERSATION_EVENTS, ALL_MESSAGES_EVENT)
        }
        self._changed: Optional[List[str]] = None

    def changed_conversations(self) -> List[str]:
        """Ids of the conversations touched in the window, in the order their first event happened; read once per sync."""
        if self._changed is None:
            first_seen: Dict[str, datetime] = {}
            for event in list(self._reads):
                self._collect(event, first_seen)
            self._changed = sorted(first_seen, key=lambda conversation_id: first_seen[conversation_id])
            logger.info(
                f"Change feed: {len(self._changed)} conversations changed between {format_timestamp(self.start)} "
                f"and {format_timestamp(self.end)}"
            )
        return self._changed

    def _collect(self, event: str, first_seen: Dict[str, datetime]) -> None:
        try:
            for conversation_id, moment in self._rows_in_window(event):
                if conversation_id not in first_seen or moment < first_seen[conversation_id]:
                    first_seen[conversation_id] = moment
        except ReportError as error:
            if event != ALL_MESSAGES_EVENT or not error.refused:
                raise
            logger.warning(
                f"Freshchat refused the {ALL_MESSAGES_EVENT} report ({error.message}); the change feed sees agents' messages only "
                f"({AGENT_MESSAGES_EVENT}), so conversations where only the user wrote wait for the rolling walk to reach their user."
            )
            self._reads[AGENT_MESSAGES_EVENT] = self._extract.want(AGENT_MESSAGES_EVENT, self.start, self.end)
            self._collect(AGENT_MESSAGES_EVENT, first_seen)

    def _rows_in_window(self, event: str) -> Iterator[Tuple[str, datetime]]:
        time_column = EVENTS[event].time_column
        rows = without_id = 0
        for row in self._extract.rows(self._reads[event]):
            rows += 1
            moment = self._extract.report_time(row.get(time_column)) or self.end  # an unreadable time is kept: better twice than never
            if moment < self.start - ZONE_MARGIN:
                continue  # the read was shared with a consumer that needed an earlier start
            conversation_id = row.get("conversation_id")
            if not conversation_id:
                without_id += 1
                continue
            yield conversation_id, moment
        if without_id and without_id == rows:
            raise ReportError(
                f"The {event} report's rows carry no conversation_id column, so the change feed cannot use them; "
                "set `conversation_discovery` to walk and please report this with the sync logs."
            )
        if without_id:
            logger.warning(f"{without_id} of {rows} {event} rows had no conversation_id and were skipped")

    def conversation_batches(
        self, fetch: Callable[[ConversationRef], List[Record]], on_behalf_of: str, resume_after: Optional[str] = None
    ) -> Iterator[UserBatch]:
        # No user order here: each batch is one conversation, and a killed sync starts its (small) feed over.
        changed: List[ConversationRef] = [(conversation_id, None) for conversation_id in self.changed_conversations()]
        sync_resources(self._settings, self._extract.api_budget).progress.of(on_behalf_of).listed(len(changed))
        return ordered_parallel_map(lambda ref: UserBatch(None, fetch(ref)), changed, self._settings.num_workers)

    def report_windows(self) -> Dict[str, float]:
        """The longest windows Freshchat accepted for the feed's events, where it refused longer ones: for the state."""
        windows = {event: self._extract.window_hours(event) for event in self._reads}
        return {event: hours for event, hours in windows.items() if hours is not None}


class ConversationDiscovery:
    """Decides once per sync, for conversations and messages together, whether they walk or follow the feed."""

    def __init__(self, settings: FreshchatSettings, walk: ParentWalk, extract: ExtractClient, selection: Selection) -> None:
        self._settings = settings
        self._walk = walk
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
        return ChangeFeed(self._settings, self._extract, start, end)

    def _rolling_walk(self, feed: ChangeFeed, record: DiscoveryRecord) -> RollingWalk:
        """One per place in the users, so conversations and messages at the same place share one slice."""
        assert record.rolling is not None
        key = RollingWalk.place(record.rolling)
        if key not in self._rolling:
            self._rolling[key] = RollingWalk(self._settings, self._walk, feed, record, self._now)
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
