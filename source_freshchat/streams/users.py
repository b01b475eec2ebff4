from typing import Any, Iterable, List, Mapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from ..config import FreshchatSettings, format_timestamp
from ..state import Cursor, CursorStateMixin
from .parents import ParentWalk, UserList


class Users(CursorStateMixin, UserList):
    """GET /v2/users, incremental on `updated_time`.

    Freshchat rejects an unfiltered list, so a full listing filters on `created_from` from a floor
    that admits every user; an incremental one sends `updated_from`, and `updated_time` is checked
    again here because the server's filtering on it is not documented.
    """

    cursor_field = "updated_time"

    def __init__(self, settings: FreshchatSettings, parents: ParentWalk) -> None:
        self.state_cursor = Cursor(self.cursor_field, settings.start_date)
        self._parents = parents
        super().__init__(settings, parents.api_budget)

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
