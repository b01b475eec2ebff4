"""The rolling walk: under the change feed, each sync also walks one slice of the users, so that no sync walks them all.

Report events cannot show a property edited alone, nor (where Chat-Transcript is refused) a message from a user. The
full walk used to catch those every `full_walk_interval_days`, in one sync that cost the whole account. Instead, each
feed sync walks the next slice of users in created_time order (listed with created_from/created_to), resuming where
the last slice stopped and wrapping round at the end. A slice is sized for the pace syncs really run at: the time since
the last sync over the interval, times the users, with a floor; a cycle that has fallen behind (the interval was
shortened) catches up at up to twice that. So every user is walked at least once per interval plus one sync, and each
slice emits what changed since its users were last walked: since the previous cycle began (or the last full walk).

Users created during a cycle come after its position; their conversations reach the sync through the feed's
Conversation-Created events until the next cycle walks them.
"""

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Mapping, Optional, Tuple

from ..base import PAGE_SIZE
from ..config import format_timestamp
from ..state import SAFETY_MARGIN, state_count, state_moment, state_user_created
from .change_feed import ChangeFeed
from .walk import ConversationRef, FirstClaim, ParentWalk, Record, UserBatch

if TYPE_CHECKING:  # plan.py, which keeps the record in the state, builds this class
    from ..sync import Sync
    from .plan import DiscoveryRecord

logger = logging.getLogger("airbyte")

# A slice costs a page of the user list anyway; the floor keeps very frequent syncs of a small account moving.
ROLLING_MIN_USERS = PAGE_SIZE
User = Tuple[str, Optional[str]]  # (id, created_time)


@dataclass(frozen=True)
class RollingPosition:
    """Where the rolling walk is in its cycle through the users, kept in the discovery record under `rolling`.

    `{"cycle": N, "cycle_started": "<when its first slice began>", "reread_from": "<every user of this cycle was last walked after
      this>", "walked_through": "<created_time of the last user walked this cycle>", "users_done": U, "conversations_done": C,
      "slice_through": "<created_time of the last user of the slice under way>", "slice_users": S, "slice_ends_cycle": bool}`
    A slice is "under way" from the moment it is planned until its stream finished, so a killed sync resumes that same slice.
    """

    reread_from: datetime
    cycle: int = 1
    cycle_started: Optional[datetime] = None
    walked_through: Optional[str] = None
    users_done: int = 0
    conversations_done: int = 0
    slice_through: Optional[str] = None
    slice_users: int = 0
    slice_ends_cycle: bool = False

    @classmethod
    def from_state(cls, raw: Any, now: datetime) -> Optional["RollingPosition"]:
        reread_from = state_moment(raw, "reread_from", now) if isinstance(raw, Mapping) else None
        if reread_from is None:
            return None
        return cls(
            reread_from,
            max(1, state_count(raw, "cycle")),
            state_moment(raw, "cycle_started", now),
            state_user_created(raw, "walked_through"),
            state_count(raw, "users_done"),
            state_count(raw, "conversations_done"),
            state_user_created(raw, "slice_through"),
            state_count(raw, "slice_users"),
            raw.get("slice_ends_cycle") is True,
        )

    def to_state(self) -> Mapping[str, Any]:
        return {
            "cycle": self.cycle,
            "cycle_started": format_timestamp(self.cycle_started) if self.cycle_started else None,
            "reread_from": format_timestamp(self.reread_from),
            "walked_through": self.walked_through,
            "users_done": self.users_done,
            "conversations_done": self.conversations_done,
            "slice_through": self.slice_through,
            "slice_users": self.slice_users,
            "slice_ends_cycle": self.slice_ends_cycle,
        }

    @property
    def slice_under_way(self) -> bool:
        return self.slice_through is not None


def slice_size(position: RollingPosition, users: int, since_last_sync: timedelta, interval: timedelta, now: datetime) -> int:
    """Users this sync walks: its share of a cycle for the time since the last sync; up to twice that when the cycle is behind."""
    share = math.ceil(users * max(since_last_sync, timedelta(0)) / interval)
    behind = math.ceil(users * (now - position.cycle_started) / interval) - position.users_done if position.cycle_started else 0
    return max(ROLLING_MIN_USERS, share, min(behind, 2 * share))


class RollingWalk:
    """A `ConversationSource`: the change feed's conversations, then this sync's slice of users walked as the full walk does.

    Built once per sync for each place in the users (conversations and messages normally share one), so the stream read
    second replays the first one's slice instead of listing it again. Each stream keeps its own position in its state.
    """

    def __init__(self, sync: "Sync", feed: ChangeFeed, record: "DiscoveryRecord", now: datetime) -> None:
        assert record.rolling is not None and record.changes_through is not None
        settings = sync.settings
        self.feed = feed
        self._sync = sync
        self._settings = settings
        self._walk: ParentWalk = sync.walk
        self._now = now
        # The first stream's position: it sizes the slice and names it in the log.
        self._slice = replace(record.rolling, cycle_started=record.rolling.cycle_started or now)
        self._users_estimate = max(record.walk_users, record.rolling.users_done)
        self._size = slice_size(record.rolling, self._users_estimate, now - record.changes_through, settings.full_walk_interval, now)
        self._users: Optional[List[User]] = None  # this slice's users, when this sync listed them
        self._remembered: Optional[List[Tuple[Optional[str], List[ConversationRef]]]] = None
        self.conversations_walked = 0
        self._planned = False

    @staticmethod
    def place(position: RollingPosition) -> Tuple[int, Optional[str], Optional[str]]:
        """Where in the users a position's next slice starts (and, if under way, ends): streams at the same place share it."""
        return position.cycle, position.walked_through, position.slice_through

    @property
    def resumes(self) -> bool:
        """True when an interrupted sync left this slice under way: the stream's checkpoint says how far it got."""
        return self._slice.slice_under_way

    @staticmethod
    def reread_from(position: RollingPosition) -> datetime:
        """What a slice emits: every change since its users were last walked."""
        return position.reread_from - SAFETY_MARGIN

    def begin(self, on_behalf_of: str) -> None:
        """Fixes this sync's slice, listing its users unless an interrupted sync left it in state, and logs where the cycle is."""
        if self._planned:  # the other fan-out stream of this sync planned it
            return
        self._planned = True
        if self._slice.slice_under_way:
            self._log("resumed")
            return
        users, ends_cycle = self._list_slice(self._slice.walked_through, on_behalf_of)
        self._users = users
        self._slice = replace(
            self._slice,
            slice_through=users[-1][1] if users else None,
            slice_users=len(users),
            slice_ends_cycle=ends_cycle,  # with no users left, _list_slice says so too
        )
        self._log("planned")

    def _list_slice(self, after: Optional[str], on_behalf_of: str) -> Tuple[List[User], bool]:
        """The next `size` users created after `after`, and the users created at the same moment as the last; True at the end.

        Users listed out of created_time order (whose times then read as None) cannot bound a slice: it takes the rest.
        """
        users: List[User] = []
        listing = self._walk.users_between(after, None, on_behalf_of)
        for user_id, created in listing:
            if after is not None and created == after:
                continue  # the last slice took every user created at that moment
            if len(users) >= self._size and created is not None and created != users[-1][1]:
                listing.close()
                return users, False
            users.append((user_id, created))
        return users, True

    def _log(self, how: str) -> None:
        position = self._slice
        first, last = position.users_done + 1, position.users_done + position.slice_users
        total = max(self._users_estimate, last)
        if not position.slice_users:
            logger.info(f"rolling walk: no users left after the position, so cycle {position.cycle} is complete (of ~{total:,} users)")
            return
        assert position.cycle_started is not None
        logger.info(
            f"rolling walk: users {first:,}–{last:,} of ~{total:,} (cycle {position.cycle}, {last / max(total, 1):.0%} done, complete by "
            f"{format_timestamp(position.cycle_started + self._settings.full_walk_interval)}); slice {how}, reading changes since "
            f"{format_timestamp(position.reread_from)}"
        )

    def position_during(self, position: RollingPosition) -> RollingPosition:
        """A stream's position while it reads this slice, as its checkpoints keep it: the slice is under way."""
        slice_ = self._slice
        return replace(
            position,
            cycle_started=position.cycle_started or self._now,
            slice_through=slice_.slice_through,
            slice_users=slice_.slice_users,
            slice_ends_cycle=slice_.slice_ends_cycle,
        )

    def position_after(self, position: RollingPosition) -> Tuple[RollingPosition, Optional[Tuple[int, int]]]:
        """A stream's position once it has read this slice to the end, and the account's (users, conversations) if that ended a cycle."""
        position = self.position_during(position)
        users, conversations = position.users_done + position.slice_users, position.conversations_done + self.conversations_walked
        if position.slice_ends_cycle:
            assert position.cycle_started is not None
            return RollingPosition(reread_from=position.cycle_started, cycle=position.cycle + 1), (users, conversations)
        return (
            replace(
                position,
                walked_through=position.slice_through,
                users_done=users,
                conversations_done=conversations,
                slice_through=None,
                slice_users=0,
            ),
            None,
        )

    def conversation_batches(
        self, fetch: Callable[[ConversationRef], List[Record]], on_behalf_of: str, resume_after: Optional[str] = None
    ) -> Iterator[UserBatch]:
        """The feed's batches (started over after an interruption: it is small), then the slice's, resumed after `resume_after`."""
        progress = self._sync.progress.of(on_behalf_of)
        if resume_after is None and self._remembered is not None:
            progress.listed(len(self._remembered))
            yield from self._walk.replay(self._remembered, fetch)
            return
        feed_batches = self.feed.conversation_batches(fetch)
        progress.listed(len(self.feed.changed_conversations()) + self._slice.slice_users)
        yield from feed_batches
        first_claim = FirstClaim()
        for conversation_id in self.feed.changed_conversations():  # fetched by the feed just now
            first_claim(conversation_id)
        yield from self._walk.walk_users(self._slice_users(resume_after, on_behalf_of), fetch, on_behalf_of, first_claim)
        self.conversations_walked = len(first_claim) - len(self.feed.changed_conversations())

    def _slice_users(self, resume_after: Optional[str], on_behalf_of: str) -> Iterator[User]:
        if resume_after is None and self._users is not None:
            return iter(self._users)
        start = resume_after or self._slice.walked_through
        listing = self._walk.users_between(start, self._slice.slice_through, on_behalf_of)
        if resume_after is not None:  # a checkpoint's user was done, but so may not be others created at that moment
            return listing
        return (user for user in listing if start is None or user[1] != start)

    def remember_conversations(self, conversations: List[Tuple[Optional[str], List[ConversationRef]]]) -> None:
        """Called by the conversations stream after reading this sync's feed and slice: messages replays them."""
        self._remembered = conversations
