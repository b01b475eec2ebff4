from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import requests

from ..base import FreshchatListStream
from ..config import format_timestamp


class OutboundMessages(FreshchatListStream):
    """GET /v2/outbound-messages: WhatsApp template messages sent by the account.

    Freshchat documents this endpoint only with `request_id`; accounts that refuse a plain list
    answer 400 or 404, which ends the stream empty with one warning instead of failing the sync.
    `created_on` is an epoch number, milliseconds in recorded responses but seconds in Freshchat's own
    documented example, so it is read by magnitude; `created_time` is derived from it in ISO-8601.
    """

    primary_key = "message_id"
    endpoint = "outbound-messages"
    data_key = "outbound_messages"
    tolerated_statuses = {
        400: "this account does not list outbound messages without a request_id; the stream is empty",
        404: "this account does not list outbound messages without a request_id; the stream is empty",
    }

    def records_from(self, body: Any, response: requests.Response) -> Iterable[Mapping[str, Any]]:
        return [with_created_time(record) for record in super().records_from(body, response)]


# Epoch seconds pass 1e11 only in the year 5138, and epoch milliseconds were already past it in March 1973.
EPOCH_MILLISECONDS_FROM = 1e11


def with_created_time(record: Mapping[str, Any]) -> Mapping[str, Any]:
    created_on = record.get("created_on")
    if isinstance(created_on, (int, float)) and not isinstance(created_on, bool) and "created_time" not in record:
        seconds = created_on / 1000 if created_on >= EPOCH_MILLISECONDS_FROM else created_on
        return {**record, "created_time": format_timestamp(datetime.fromtimestamp(seconds, tz=timezone.utc))}
    return record
