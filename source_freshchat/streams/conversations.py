from typing import Any, Dict, Iterable, List, Mapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from ..base import FreshchatStream
from ..config import FreshchatSettings
from ..state import Cursor, CursorStateMixin
from .parents import ParentWalk


class Conversations(CursorStateMixin, FreshchatStream):
    """GET /v2/conversations/{id} for every id under GET /v2/users/{id}/conversations, incremental on `updated_time`.

    `updated_time` exists only on the detail object, so every conversation is fetched and the
    cursor is applied here; a conversation deleted between listing and fetching answers 404 and is skipped.
    """

    primary_key = "conversation_id"
    cursor_field = "updated_time"
    endpoint = "conversations/{conversation_id}"
    tolerated_statuses = {404: "the conversation was deleted after it was listed"}

    def __init__(self, settings: FreshchatSettings, parents: ParentWalk) -> None:
        self.state_cursor = Cursor(self.cursor_field, settings.start_date)
        self._parents = parents
        super().__init__(settings)

    def fetch(self, conversation_id: str) -> List[Mapping[str, Any]]:
        details = super().read_records(SyncMode.full_refresh, stream_slice={"conversation_id": conversation_id})
        return [{"conversation_id": conversation_id, **detail} for detail in details]

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        self.state_cursor.begin(sync_mode)
        updates: Dict[str, Optional[str]] = {}
        for conversation in self._parents.for_each_conversation(self.fetch):
            updates[conversation["conversation_id"]] = conversation.get("updated_time")
            if self.state_cursor.accepts(conversation):
                yield conversation
        self._parents.remember_conversation_updates(updates)
        self.state_cursor.finish()
