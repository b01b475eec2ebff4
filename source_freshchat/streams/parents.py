"""Users -> conversation ids: the only path to conversations and messages, walked at most once per sync.

Freshchat has no endpoint that lists all conversations, so both conversations and messages start
from the user list. Whichever stream walks it first completely leaves the result here, and the
streams after it in the same sync replay it instead of requesting it again.

The walk is the fan-out that dominates a sync (one request per user, one or more per conversation),
so it runs `num_workers` requests at a time. Results come back in user order, whatever order the
requests finish in, so what a stream emits does not depend on timing.
"""

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, TypeVar

import requests
from airbyte_cdk.models import SyncMode

from ..base import FreshchatListStream, FreshchatStream
from ..config import FreshchatSettings
from ..errors import request_path, unexpected_shape

# Freshchat rejects GET /v2/users without a filter; created_from this early admits every user.
USERS_FILTER_FLOOR = "2000-01-01T00:00:00.000Z"
PROGRESS_EVERY = 1000

logger = logging.getLogger("airbyte")

Item = TypeVar("Item")
Result = TypeVar("Result")
Record = Mapping[str, Any]


def ordered_parallel_map(work: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """`map(work, items)` on `workers` threads, in input order, with at most 2 x workers items in flight.

    `items` is consumed lazily, so a long parent list is never held in memory; an error in any
    item is raised here, in order, and cancels the work not yet started.
    """
    if workers <= 1:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freshchat")
    in_flight: Deque[Future] = deque()
    try:
        for item in items:
            in_flight.append(pool.submit(work, item))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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

    def records_from(self, body: Any, response: requests.Response) -> List[Record]:
        conversations = body.get("conversations") if isinstance(body, dict) else None
        if not isinstance(conversations, list):
            raise unexpected_shape(request_path(response), "'conversations' list")
        return conversations

    def ids_of(self, user_id: str) -> List[str]:
        return [ref["id"] for ref in self.read_records(SyncMode.full_refresh, stream_slice={"user_id": user_id}) if ref.get("id")]


class FirstClaim:
    """Thread-safe "have we seen this id?": a conversation listed under two users is fetched once."""

    def __init__(self) -> None:
        self._seen: set = set()
        self._lock = threading.Lock()

    def __call__(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def __len__(self) -> int:
        return len(self._seen)


class ParentWalk:
    def __init__(self, settings: FreshchatSettings) -> None:
        self._workers = settings.num_workers
        self._user_list = UserList(settings)
        self._user_conversation_ids = UserConversationIds(settings)
        self._user_ids: Optional[List[str]] = None
        self._conversation_updates: Optional[Dict[str, Optional[str]]] = None

    def remember_users(self, users: Iterable[Record]) -> Iterator[Record]:
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

    def for_each_conversation(self, fetch: Callable[[str], List[Record]]) -> Iterator[Record]:
        """Yields the records `fetch(conversation_id)` returns, for every conversation once, `num_workers` at a time."""
        if self._conversation_updates is not None:
            for records in ordered_parallel_map(fetch, list(self._conversation_updates), self._workers):
                yield from records
            return
        first_claim = FirstClaim()

        def fetch_for_user(user_id: str) -> List[Record]:
            return [record for conversation_id in self._user_conversation_ids.ids_of(user_id) if first_claim(conversation_id) for record in fetch(conversation_id)]

        for walked, records in enumerate(ordered_parallel_map(fetch_for_user, self.user_ids(), self._workers), start=1):
            yield from records
            if walked % PROGRESS_EVERY == 0:
                logger.info(f"Walked the conversations of {walked} users; {len(first_claim)} conversations so far")

    def remember_conversation_updates(self, updates: Dict[str, Optional[str]]) -> None:
        """Called by the conversations stream after a complete walk: id -> updated_time of every conversation it fetched."""
        self._conversation_updates = updates

    def known_updated_time(self, conversation_id: str) -> Optional[str]:
        """The conversation's updated_time if this sync has fetched it already."""
        return (self._conversation_updates or {}).get(conversation_id)
