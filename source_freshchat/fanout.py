"""The base of the streams read per conversation, conversations and messages, whichever way the sync finds them (discovery/)."""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Tuple

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from .base import FreshchatStream
from .discovery.plan import DISCOVERY_KEY, ConversationDiscovery, DiscoveryRecord, StreamPlan
from .discovery.walk import ConversationRef, Record, UserBatch
from .state import Cursor, CursorStateMixin

if TYPE_CHECKING:  # sync.py builds the planner, which this module imports
    from .sync import Sync

# The CDK checkpoints after each slice; a slice is this many users' worth of records.
USERS_PER_CHECKPOINT = 200


class FanOutStream(CursorStateMixin, FreshchatStream, ABC):
    """Reads `fetch(conversation)` for every conversation the sync's source gives (the walk or the change feed),
    and checkpoints where to resume.

    The walk runs as one pipeline across slices: a slice only tells the CDK when to checkpoint, so
    the concurrent requests never drain at a slice boundary.
    """

    # Keys a stream keeps in its state beside the cursor.
    state_keys: Tuple[str, ...] = ()

    def __init__(self, sync: "Sync") -> None:
        self.state_cursor = Cursor(self.cursor_field, sync.settings.start_date, (*self.state_keys, DISCOVERY_KEY))
        self._parents = sync.walk
        self._discovery = sync.discovery
        self._record = DiscoveryRecord()
        self._plan: Optional[StreamPlan] = None
        self._batches: Optional[Iterator[UserBatch]] = None
        super().__init__(sync)
        self.progress.rows_per_user = True

    @property
    def state(self) -> MutableMapping[str, Any]:
        state = self.state_cursor.state
        return {**state, DISCOVERY_KEY: self._record.to_state()} if self._record.last_full_walk else state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self.state_cursor.state = value
        self._record = DiscoveryRecord.from_state(value)

    @abstractmethod
    def fetch(self, conversation: ConversationRef) -> List[Record]:
        """This stream's records of one conversation; runs on a worker thread, so it must not change the cursor."""

    @abstractmethod
    def emit(self, batch: UserBatch) -> Iterable[Record]:
        """The records of one user's batch that this sync emits; runs on the reading thread."""

    def walk_finished(self, complete: bool, advance: bool = True) -> None:
        """Called once the walk is over; `complete` when it covered every user (not resumed halfway).

        `advance=False`: this read may have missed records, so neither the cursor nor the discovery record moves.
        """
        self.state_cursor.finish(advance)
        if advance and self._plan is not None:
            walk_size = self._parents.walk_size if complete else None
            self._record = ConversationDiscovery.after_read(self._record, self._plan, self.state_cursor.sync_started, walk_size)

    def stream_slices(
        self, *, sync_mode: SyncMode, cursor_field: Optional[List[str]] = None, stream_state: Optional[Mapping[str, Any]] = None
    ) -> Iterable[Optional[Mapping[str, Any]]]:
        self._plan = self._discovery.for_stream(self.name, sync_mode, self._record)
        self.state_cursor.begin(sync_mode, self._plan.reread_from, self._plan.resumes)
        resume_after = self.state_cursor.resume_after
        self._record = ConversationDiscovery.while_reading(self._record, self._plan)
        self._batches = self._plan.source.conversation_batches(self.fetch, self.name, resume_after)
        self._complete_walk = resume_after is None
        while self._batches is not None:
            yield {}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        if self._batches is None:  # the CDK looks one slice ahead, so it may ask once after the end
            return
        for _ in range(USERS_PER_CHECKPOINT):
            batch = next(self._batches, None)
            if batch is None:
                self._batches = None
                self.walk_finished(self._complete_walk)
                return
            yield from self.progress.track(self.emit(batch))
            self.progress.users_done()
            self.state_cursor.users_done_through(batch.user_created)
