from typing import TYPE_CHECKING, Any, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from ..base import FreshchatListStream
from ..config import format_timestamp
from ..state import Cursor, CursorStateMixin

if TYPE_CHECKING:  # sync.py builds the walk, which lists users through UserList
    from ..sync import Sync

# Freshchat rejects GET /v2/users without a filter; created_from this early admits every user.
USERS_FILTER_FLOOR = "2000-01-01T00:00:00.000Z"


class UserList(FreshchatListStream):
    """GET /v2/users with the filter that admits every user, or only those created in [created_from, created_to]."""

    endpoint = data_key = "users"

    def __init__(
        self,
        sync: "Sync",
        created_from: Optional[str] = None,
        name: Optional[str] = None,
        created_to: Optional[str] = None,
    ) -> None:
        self._created_from = created_from or USERS_FILTER_FLOOR
        self._created_to = created_to
        super().__init__(sync, name=name)

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        return {**super().first_page_params(stream_state, stream_slice), **self.user_filter()}

    def user_filter(self) -> Mapping[str, str]:
        return {"created_from": self._created_from, **({"created_to": self._created_to} if self._created_to else {})}


class Users(CursorStateMixin, UserList):
    """GET /v2/users, incremental on `updated_time`.

    Freshchat rejects an unfiltered list, so a full listing filters on `created_from` from a floor
    that admits every user; an incremental one sends `updated_from`, and `updated_time` is checked
    again here because the server's filtering on it is not documented.
    """

    cursor_field = "updated_time"

    def __init__(self, sync: "Sync") -> None:
        self.state_cursor = Cursor(self.cursor_field, sync.settings.start_date)
        self._parents = sync.walk
        super().__init__(sync)

    def user_filter(self) -> Mapping[str, str]:
        lower_bound = self.state_cursor.lower_bound
        return super().user_filter() if lower_bound is None else {"updated_from": format_timestamp(lower_bound)}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        self.state_cursor.begin(sync_mode)
        users = self.records_of(stream_slice, stream_state)
        if self.state_cursor.lower_bound is None:
            users = self._parents.remember_users(users)  # a complete listing: conversations reuse it instead of listing again
        yield from self.progress.track(user for user in users if self.state_cursor.accepts(user))
        self.state_cursor.finish()
