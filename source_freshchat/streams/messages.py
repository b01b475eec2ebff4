from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from ..base import PAGE_SIZE, FreshchatStream
from ..config import FreshchatSettings
from ..errors import request_path, unexpected_shape
from ..state import Cursor, CursorStateMixin
from .parents import ParentWalk


class Messages(CursorStateMixin, FreshchatStream):
    """GET /v2/conversations/{id}/messages for every conversation, incremental on `created_time`.

    Freshchat serves messages newest first, 50 at most per page, with `link.href` to the next
    (older) page and no pagination block; `from_time` is an upper bound, not "since". So an
    incremental read pages from the newest and stops at the first message older than the cursor.
    """

    cursor_field = "created_time"
    endpoint = "conversations/{conversation_id}/messages"
    tolerated_statuses = {404: "the conversation was deleted after it was listed"}

    def __init__(self, settings: FreshchatSettings, parents: ParentWalk) -> None:
        self.state_cursor = Cursor(self.cursor_field, settings.start_date)
        self._parents = parents
        super().__init__(settings)

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        return {"page": 1, "items_per_page": PAGE_SIZE}

    def records_from(self, body: Any, response: requests.Response) -> List[Mapping[str, Any]]:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            raise unexpected_shape(request_path(response), "'messages' list")
        return messages

    def next_href(self, body: Any) -> Optional[str]:
        return (body.get("link") or {}).get("href")

    def fetch(self, conversation_id: str) -> List[Mapping[str, Any]]:
        """One conversation's messages, newest first, down to the cursor: one page when nothing is new."""
        messages = []
        for message in super().read_records(SyncMode.full_refresh, stream_slice={"conversation_id": conversation_id}):
            if self.state_cursor.is_before_lower_bound(message):
                break  # newest first: the rest of this conversation is older still
            messages.append({"conversation_id": conversation_id, **message})
        return messages

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        self.state_cursor.begin(sync_mode)
        for message in self._parents.for_each_conversation(self.fetch):
            self.state_cursor.accepts(message)
            yield message
        self.state_cursor.finish()
