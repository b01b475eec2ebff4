"""The change feed: the conversations that Extract API report events touched in a window, fetched as the walk fetches them."""

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Tuple

from ..concurrency import ordered_parallel_map
from ..config import format_timestamp
from ..extract import ZONE_MARGIN, ReportError, ReportRead
from ..streams.report_events import EVENTS
from .walk import ConversationRef, Record, UserBatch

if TYPE_CHECKING:  # sync.py builds the planner, which builds the feed
    from ..sync import Sync

logger = logging.getLogger("airbyte")

CONVERSATION_EVENTS = ("Conversation-Created", "Conversation-Agent-Assigned", "Conversation-Group-Assigned", "Conversation-Resolved")
ALL_MESSAGES_EVENT = "Chat-Transcript"  # every actor's messages; used in production but not in Freshchat's documented list
AGENT_MESSAGES_EVENT = "Message-Sent"  # documented, but agents' messages only


class ChangeFeed:
    """The conversations that report events touched in [start, end], then the same per-conversation fetch as the walk."""

    def __init__(self, sync: "Sync", start: datetime, end: datetime) -> None:
        self._settings = sync.settings
        self._extract = extract = sync.extract
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

    def conversation_batches(self, fetch: Callable[[ConversationRef], List[Record]]) -> Iterator[UserBatch]:
        """One batch per changed conversation, for the rolling walk, which counts them in its progress.

        No user order here, and no resume: a killed sync starts its (small) feed over.
        """
        changed: List[ConversationRef] = [(conversation_id, None) for conversation_id in self.changed_conversations()]
        return ordered_parallel_map(lambda ref: UserBatch(None, fetch(ref)), changed, self._settings.num_workers)

    def report_windows(self) -> Dict[str, float]:
        """The longest windows Freshchat accepted for the feed's events, where it refused longer ones: for the state."""
        windows = {event: self._extract.window_hours(event) for event in self._reads}
        return {event: hours for event, hours in windows.items() if hours is not None}
