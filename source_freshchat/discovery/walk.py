"""The walk: users -> conversation ids, the complete way to find conversations, walked at most once per sync.

Freshchat has no endpoint that lists all conversations, so a walk starts from the user list and asks each user for
its conversations. Conversations and messages take this path on a full walk, and the rolling walk takes a slice of
it each feed sync (see the package docstring for the change feed, the other path). Whichever stream walks it first
completely leaves the result here, and the streams after it in the same sync replay it instead of requesting it again.

The walk is the fan-out that dominates a sync (one request per user, one or more per conversation),
so it runs `num_workers` requests at a time. Results come back in user order, whatever order the
requests finish in, so what a stream emits does not depend on timing.
"""

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple

import requests

from ..base import FreshchatStream
from ..concurrency import ordered_parallel_map
from ..errors import request_path, unexpected_shape
from ..progress import StreamProgress
from ..streams.users import UserList

if TYPE_CHECKING:  # sync.py builds the walk
    from ..sync import Sync

PROGRESS_EVERY = 1000

logger = logging.getLogger("airbyte")

Record = Mapping[str, Any]
# A conversation's id and, when this sync has already fetched its details, its updated_time.
ConversationRef = Tuple[str, Optional[str]]


def in_created_order(users: Iterable[Tuple[str, Optional[str]]]) -> Iterator[Tuple[str, Optional[str]]]:
    """Passes (id, created_time) through; once the listing breaks created_time order, created_time is None from there on.

    A user's created_time marks progress (checkpoints, slices) only while the listing really is in that order.
    """
    in_order = True
    previous: Optional[str] = None
    for user_id, created in users:
        if in_order and not (isinstance(created, str) and (previous is None or created >= previous)):
            in_order = False
            logger.warning("Freshchat listed users out of created_time order: this sync can only checkpoint at the end of each stream")
        previous = created
        yield user_id, created if in_order else None


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
        return [ref["id"] for ref in self.records_of({"user_id": user_id}) if ref.get("id")]


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


@dataclass(frozen=True)
class UserBatch:
    """The records fetched for one user's conversations; `user_created` marks progress through the user list."""

    user_created: Optional[str]
    records: List[Record]


class ParentWalk:
    def __init__(self, sync: "Sync") -> None:
        self._workers = sync.settings.num_workers
        self.sync = sync
        self._users: Optional[List[Tuple[str, Optional[str]]]] = None
        self._conversations: Optional[List[Tuple[Optional[str], List[ConversationRef]]]] = None
        self.walk_size: Optional[Tuple[int, int]] = None  # (users, conversations) of this sync's complete walk, for the next sync's choice

    def _progress(self, stream: str) -> StreamProgress:
        return self.sync.progress.of(stream)

    def remember_users(self, users: Iterable[Record]) -> Iterator[Record]:
        """Passes a complete user listing through, keeping (id, created_time) once it has been read to the end."""
        seen = []
        for user in users:
            seen.append((user["id"], user.get("created_time")))
            yield user
        self._users = seen

    def _users_in_order(self, created_from: Optional[str], on_behalf_of: str) -> Iterator[Tuple[str, Optional[str]]]:
        """(id, created_time) of every user, oldest first; from `created_from` on when resuming."""
        if created_from is None and self._users is not None:
            self._progress(on_behalf_of).listed(len(self._users))
            return iter(self._users)
        listing = UserList(self.sync, created_from, name=on_behalf_of).records_of()
        return in_created_order(
            (user["id"], user.get("created_time")) for user in (self.remember_users(listing) if created_from is None else listing)
        )

    def users_between(
        self, created_from: Optional[str], created_to: Optional[str], on_behalf_of: str
    ) -> Iterator[Tuple[str, Optional[str]]]:
        """(id, created_time) of the users created in [created_from, created_to], oldest first, listed lazily: a rolling walk's slice."""
        listing = UserList(self.sync, created_from, name=on_behalf_of, created_to=created_to).records_of()
        return in_created_order((user["id"], user.get("created_time")) for user in listing)

    def conversation_batches(
        self, fetch: Callable[[ConversationRef], List[Record]], on_behalf_of: str, resume_after: Optional[str] = None
    ) -> Iterator[UserBatch]:
        """For each user in order, the records `fetch(conversation ref)` returns for its conversations; every conversation once.

        The walk's own requests report errors under `on_behalf_of`, the stream being read.
        """
        if resume_after is None and self._conversations is not None:
            self._progress(on_behalf_of).listed(len(self._conversations))
            return self.replay(self._conversations, fetch)
        return self._complete_walk(fetch, on_behalf_of, resume_after)

    def _complete_walk(
        self, fetch: Callable[[ConversationRef], List[Record]], on_behalf_of: str, resume_after: Optional[str]
    ) -> Iterator[UserBatch]:
        first_claim = FirstClaim()
        walked = 0
        for walked, batch in enumerate(
            self.walk_users(self._users_in_order(resume_after, on_behalf_of), fetch, on_behalf_of, first_claim), 1
        ):
            yield batch
        if resume_after is None:
            self.walk_size = (walked, len(first_claim))

    def walk_users(
        self,
        users: Iterable[Tuple[str, Optional[str]]],
        fetch: Callable[[ConversationRef], List[Record]],
        on_behalf_of: str,
        first_claim: FirstClaim,
    ) -> Iterator[UserBatch]:
        """For each (id, created_time) in order, the records `fetch` returns for its conversations not claimed before."""
        user_conversation_ids = UserConversationIds(self.sync, name=on_behalf_of)

        def fetch_for_user(user: Tuple[str, Optional[str]]) -> UserBatch:
            user_id, user_created = user
            claimed = [conversation_id for conversation_id in user_conversation_ids.ids_of(user_id) if first_claim(conversation_id)]
            return UserBatch(user_created, [record for conversation_id in claimed for record in fetch((conversation_id, None))])

        for walked, batch in enumerate(ordered_parallel_map(fetch_for_user, users, self._workers), start=1):
            yield batch
            if walked % PROGRESS_EVERY == 0:
                logger.info(f"Walked the conversations of {walked} users; {len(first_claim)} conversations so far")

    def replay(
        self, conversations: List[Tuple[Optional[str], List[ConversationRef]]], fetch: Callable[[ConversationRef], List[Record]]
    ) -> Iterator[UserBatch]:
        """The batches of a walk another stream of this sync completed, per user in order, without listing anything again."""

        def fetch_known(entry: Tuple[Optional[str], List[ConversationRef]]) -> UserBatch:
            user_created, refs = entry
            return UserBatch(user_created, [record for ref in refs for record in fetch(ref)])

        return ordered_parallel_map(fetch_known, conversations, self._workers)

    def remember_conversations(self, conversations: List[Tuple[Optional[str], List[ConversationRef]]]) -> None:
        """Called by the conversations stream after a complete walk: per user in order, (id, updated_time) of its conversations."""
        self._conversations = conversations
