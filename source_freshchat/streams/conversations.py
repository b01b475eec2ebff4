from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

from ..discovery.walk import ConversationRef, Record, UserBatch
from ..fanout import FanOutStream

if TYPE_CHECKING:  # sync.py builds the planner, which the fan-out base imports
    from ..sync import Sync


class Conversations(FanOutStream):
    """GET /v2/conversations/{id} for every id under GET /v2/users/{id}/conversations, incremental on `updated_time`.

    `updated_time` exists only on the detail object, so every conversation is fetched and the
    cursor is applied here; a conversation deleted between listing and fetching answers 404 and is skipped.
    """

    primary_key = "conversation_id"
    cursor_field = "updated_time"
    endpoint = "conversations/{conversation_id}"
    tolerated_statuses = {404: "the conversation was deleted after it was listed"}

    def __init__(self, sync: "Sync") -> None:
        super().__init__(sync)
        self._walked: List[Tuple[Optional[str], List[ConversationRef]]] = []

    def fetch(self, conversation: ConversationRef) -> List[Record]:
        conversation_id, _ = conversation
        details = self.records_of({"conversation_id": conversation_id})
        return [{"conversation_id": conversation_id, **detail} for detail in details]

    def emit(self, batch: UserBatch) -> Iterable[Record]:
        self._walked.append((batch.user_created, [(record["conversation_id"], record.get("updated_time")) for record in batch.records]))
        return [record for record in batch.records if self.state_cursor.accepts(record)]

    def walk_finished(self, complete: bool, advance: bool = True) -> None:
        super().walk_finished(complete, advance)
        if complete and self._plan is not None:  # messages, later in this sync, replays these instead of walking users again
            self._plan.source.remember_conversations(self._walked)
        self._walked = []
