import threading
from typing import TYPE_CHECKING, Any, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import SyncMode

from ..base import PAGE_SIZE
from ..discovery.walk import ConversationRef, Record, UserBatch
from ..errors import request_path, unexpected_shape
from ..fanout import FanOutStream

if TYPE_CHECKING:  # sync.py builds the planner, which the fan-out base imports
    from ..sync import Sync
from ..state import moment_of

# Messages state remembers whether this account's conversations move their updated_time when a
# message arrives; only then may an incremental sync skip conversations whose updated_time is old.
EVIDENCE_KEY = "updated_time_covers_messages"


class Messages(FanOutStream):
    """GET /v2/conversations/{id}/messages for every conversation, incremental on `created_time`.

    Freshchat serves messages newest first, 50 at most per page, with `link.href` to the next
    (older) page and no pagination block; `from_time` is an upper bound, not "since". So an
    incremental read pages from the newest and stops at the first message older than the cursor:
    a conversation with nothing new costs one request.

    When the same sync has read the conversations, each one's updated_time is known. Whether a new
    message moves it is not documented, so it is checked on every conversation read (its newest
    message must not be later than its updated_time); once a sync has seen it hold with no
    exception, later incremental syncs skip, without a request, conversations not updated since
    the cursor. A single exception turns skipping off for good and keeps the cursor where it was.
    """

    cursor_field = "created_time"
    state_keys = (EVIDENCE_KEY,)
    endpoint = "conversations/{conversation_id}/messages"
    tolerated_statuses = {404: "the conversation was deleted after it was listed"}

    def __init__(self, sync: "Sync") -> None:
        super().__init__(sync)
        self._evidence: Optional[bool] = None  # from the last sync: True, False (for good) or unknown
        self._verified = 0
        self._contradicted = False
        self._skipped = 0
        self._lock = threading.Lock()

    @property
    def state(self) -> MutableMapping[str, Any]:
        state = super().state
        evidence = self._evidence_after_this_sync()
        return {**state, EVIDENCE_KEY: evidence} if evidence is not None else state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        FanOutStream.state.fset(self, value)  # type: ignore[attr-defined]
        evidence = (value or {}).get(EVIDENCE_KEY)
        self._evidence = evidence if isinstance(evidence, bool) else None

    def _evidence_after_this_sync(self) -> Optional[bool]:
        if self._evidence is False or self._contradicted:
            return False
        return True if self._verified else self._evidence

    def stream_slices(self, *, sync_mode: SyncMode, cursor_field=None, stream_state=None):
        self._verified, self._contradicted, self._skipped = 0, False, 0
        self._may_skip = sync_mode == SyncMode.incremental and self._evidence is True
        yield from super().stream_slices(sync_mode=sync_mode)  # a fan-out stream's slices follow its plan, not these

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        return {"page": 1, "items_per_page": PAGE_SIZE}

    def records_from(self, body: Any, response: requests.Response) -> List[Mapping[str, Any]]:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            raise unexpected_shape(request_path(response), "'messages' list")
        return messages

    def next_href(self, body: Any) -> Optional[str]:
        return (body.get("link") or {}).get("href")

    def fetch(self, conversation: ConversationRef) -> List[Record]:
        conversation_id, updated_time = conversation
        updated = moment_of(updated_time)
        lower_bound = self.state_cursor.lower_bound
        if self._may_skip and updated and lower_bound and updated < lower_bound:
            with self._lock:
                self._skipped += 1
            return []
        messages = []
        for message in self.records_of({"conversation_id": conversation_id}):
            if self.state_cursor.is_before_lower_bound(message):
                break  # newest first: the rest of this conversation is older still, and its next page is never fetched
            messages.append({"conversation_id": conversation_id, **message})
        if updated and messages:
            self._check_evidence(updated, messages[0])
        return messages

    def _check_evidence(self, updated, newest: Record) -> None:
        created = self.state_cursor.value_of(newest)
        if created is None or created >= self.state_cursor.sync_started:
            return  # a message that arrived during the sync may be newer than the updated_time read earlier
        with self._lock:
            self._verified += 1
            if created > updated:
                self._contradicted = True

    def emit(self, batch: UserBatch) -> Iterable[Record]:
        for message in batch.records:
            self.state_cursor.accepts(message)
        return batch.records

    def walk_finished(self, complete: bool) -> None:
        if self._skipped:
            self.logger.info(f"Skipped {self._skipped} conversations not updated since the cursor (no request needed)")
        if self._contradicted:
            self.logger.warning(
                "A conversation's newest message is later than its updated_time: this account does not move updated_time on new "
                "messages, so messages are no longer skipped by conversation, and the cursor stays put so the next sync re-reads them."
            )
            super().walk_finished(complete, advance=not self._skipped)
        else:
            super().walk_finished(complete)
