from typing import Any, Iterable, Mapping

import requests

from ..base import FreshchatStream
from ..errors import request_path, unexpected_shape


class ConversationProperties(FreshchatStream):
    """GET /v2/conversations/fields: the conversation field definitions, a bare JSON array that is not paged."""

    endpoint = "conversations/fields"

    def records_from(self, body: Any, response: requests.Response) -> Iterable[Mapping[str, Any]]:
        if not isinstance(body, list):
            raise unexpected_shape(request_path(response), "JSON array")
        return body
