"""Users -> conversation ids: the only path to conversations and messages, walked at most once per sync.

Freshchat has no endpoint that lists all conversations, so both conversations and messages start
from the user list. Whichever stream walks it first completely leaves the result here, and the
streams after it in the same sync replay it instead of requesting it again.
"""

import logging
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Tuple

import requests
from airbyte_cdk.models import SyncMode

from ..base import FreshchatListStream, FreshchatStream
from ..config import FreshchatSettings
from ..errors import request_path, unexpected_shape

# Freshchat rejects GET /v2/users without a filter; created_from this early admits every user.
USERS_FILTER_FLOOR = "2000-01-01T00:00:00.000Z"
PROGRESS_EVERY = 500

logger = logging.getLogger("airbyte")


class UserList(FreshchatListStream):
    """GET /v2/users with the filter that admits every user."""

    endpoint = data_key = "users"

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        return {**super().first_page_params(stream_state, stream_slice), **self.user_filter()}

    def user_filter(self) -> Mapping[str, str]:
        return {"created_from": USERS_FILTER_FLOOR}


class UserConversationIds(FreshchatStream):
    """GET /v2/users/{user_id}/conversations: `{"conversations": [{"id": ...}]}`, ids only and not paged."""

    endpoint = "users/{user_id}/conversations"
    tolerated_statuses = {404: "the user was deleted after it was listed"}

    def records_from(self, body: Any, response: requests.Response) -> List[Mapping[str, Any]]:
        conversations = body.get("conversations") if isinstance(body, dict) else None
        if not isinstance(conversations, list):
            raise unexpected_shape(request_path(response), "'conversations' list")
        return conversations


class ParentWalk:
    def __init__(self, settings: FreshchatSettings) -> None:
        self._user_list = UserList(settings)
        self._user_conversation_ids = UserConversationIds(settings)
        self._user_ids: Optional[List[str]] = None
        self._conversation_updates: Optional[Dict[str, Optional[str]]] = None

    def remember_users(self, users: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Passes a complete user listing through, keeping the ids once it has been read to the end."""
        ids = []
        for user in users:
            ids.append(user["id"])
            yield user
        self._user_ids = ids

    def user_ids(self) -> Iterable[str]:
        if self._user_ids is not None:
            return self._user_ids
        return (user["id"] for user in self.remember_users(self._user_list.read_records(SyncMode.full_refresh)))

    def conversation_ids(self) -> Iterator[str]:
        """Every conversation id once, even when a conversation is listed under several users."""
        seen = set()
        for walked, user_id in enumerate(self.user_ids(), start=1):
            for ref in self._user_conversation_ids.read_records(SyncMode.full_refresh, stream_slice={"user_id": user_id}):
                conversation_id = ref.get("id")
                if conversation_id and conversation_id not in seen:
                    seen.add(conversation_id)
                    yield conversation_id
            if walked % PROGRESS_EVERY == 0:
                logger.info(f"Walked the conversations of {walked} users; {len(seen)} conversations so far")

    def remember_conversation_updates(self, updates: Dict[str, Optional[str]]) -> None:
        """Called by the conversations stream after a complete walk: id -> updated_time of every conversation it fetched."""
        self._conversation_updates = updates

    def conversation_refs(self) -> Iterable[Tuple[str, Optional[str]]]:
        """(conversation id, updated_time if this sync fetched it) for every conversation."""
        if self._conversation_updates is not None:
            return self._conversation_updates.items()
        return ((conversation_id, None) for conversation_id in self.conversation_ids())
