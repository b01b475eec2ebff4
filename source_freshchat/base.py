"""The HTTP base of the REST API streams: host, auth, JSON bodies, errors, backoff and paging.

The report streams (streams/reports.py) read through the Extract API client instead.
"""

import logging
from abc import ABC
from typing import TYPE_CHECKING, Any, Iterable, List, Mapping, MutableMapping, Optional, Tuple
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorHandler,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .errors import (
    MAX_RETRIES,
    RESPONSE_BODY_LOG_FILTER,
    STREAM_FORBIDDEN_MESSAGE,
    FreshchatErrorHandler,
    StreamForbidden,
    error_status,
    json_body,
    rate_limit_exhausted,
    request_path,
    unexpected_shape,
)
from .rate_limit import FreshchatBackoffStrategy

if TYPE_CHECKING:  # sync.py builds the walk, whose streams derive from this module
    from .sync import Sync

PAGE_SIZE = 50  # the largest page Freshchat serves (messages reject more; lists clamp)
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60  # Freshchat answers in well under a second: a silent socket is a hung request, retried

logging.getLogger("airbyte").addFilter(RESPONSE_BODY_LOG_FILTER)  # the logger of the CDK's retry logs, for the whole process


class FreshchatStream(HttpStream, ABC):
    """One Freshchat endpoint. Subclasses name `endpoint` and, when the body is not the record itself, `records_from`."""

    primary_key = "id"
    endpoint: str = ""
    # Statuses a stream skips with a log line instead of failing, e.g. {404: "the user was deleted during the sync"}.
    tolerated_statuses: Mapping[int, str] = {}
    # What a 403 means here: by default a permission this endpoint needs, so only this stream fails.
    forbidden_message: str = STREAM_FORBIDDEN_MESSAGE
    # Whether that 403 fails this stream alone (StreamForbidden), so that the sync goes on with the others.
    forbidden_fails_alone = True

    def __init__(self, sync: "Sync", max_retries: int = MAX_RETRIES, name: Optional[str] = None) -> None:
        self.sync = sync
        self.settings = sync.settings
        self._max_retries = max_retries
        if name:  # a helper request that serves another stream reports its errors and logs under that stream's name
            self.name = name
        super().__init__()
        self._http_client._session.close()  # the CDK's own session per stream: never used, replaced by the sync's (which holds the budget)
        self._http_client._session = sync.session
        self._environment = sync.environment
        self.progress = sync.progress.of(self.name)

    @property
    def url_base(self) -> str:
        return self.settings.api_base

    @property
    def is_resumable(self) -> bool:
        # Full refresh must re-read everything each run: no CDK "resumable full refresh" state that ends the next run early.
        return self.supports_incremental

    def get_error_handler(self) -> ErrorHandler:
        self._errors = FreshchatErrorHandler(self.logger, self.tolerated_statuses, self._max_retries, self.name, self.forbidden_message)
        return self._errors

    def get_backoff_strategy(self) -> BackoffStrategy:
        return FreshchatBackoffStrategy()

    def path(self, *, stream_state=None, stream_slice=None, next_page_token=None) -> str:
        if next_page_token:
            return next_page_token["path"]
        # Ids come from API responses: quoted, so no id can step out of its path segment.
        return self.endpoint.format(**{key: quote(str(value), safe="") for key, value in (stream_slice or {}).items()})

    def request_headers(self, stream_state, stream_slice=None, next_page_token=None) -> Mapping[str, Any]:
        return {"Accept": "application/json"}

    def request_kwargs(self, stream_state, stream_slice=None, next_page_token=None) -> Mapping[str, Any]:
        return {**self._environment, "timeout": (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)}

    def request_params(self, stream_state, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        params = self.first_page_params(stream_state or {}, stream_slice or {})
        if next_page_token:
            params.update(next_page_token["query"])  # the link's own values (page, filters) win
        return params

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        return {}

    def read(self, *args: Any, **kwargs: Any) -> Iterable[StreamData]:
        try:
            yield from super().read(*args, **kwargs)
        except StreamForbidden:
            self.sync.failed_alone.add(self.name)  # read by the source: the sync goes on with the other streams
            raise

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        # Always page to the end; the CDK default reads one page per call for streams without a cursor.
        yield from self.progress.track(self.records_of(stream_slice, stream_state))

    def records_of(
        self, stream_slice: Optional[Mapping[str, Any]] = None, stream_state: Optional[Mapping[str, Any]] = None
    ) -> Iterable[Mapping[str, Any]]:
        """Every record of one request, following its pages to the end, lazily: stop iterating and no further page is fetched."""
        return self._read_pages(
            lambda request, response, state, _slice: self.parse_response(response),
            stream_slice,
            stream_state,
        )

    def _fetch_next_page(
        self, stream_slice=None, stream_state=None, next_page_token=None
    ) -> Tuple[requests.PreparedRequest, requests.Response]:
        self.progress.count_request()
        try:
            return super()._fetch_next_page(stream_slice, stream_state, next_page_token)
        except AirbyteTracedException as error:
            if self.forbidden_fails_alone and self._errors.refused_last():
                raise StreamForbidden(
                    message=error.message, internal_message=error.internal_message, failure_type=error.failure_type
                ) from error
            if not rate_limit_exhausted(error):
                raise
            # The CDK says only "API rate limit exceeded."; name the request and the way out.
            raise AirbyteTracedException(
                message=f"Freshchat kept answering HTTP 429 after {self._max_retries} retries; {error.internal_message}. "
                "Another tool may share this account's API limit: lower `num_workers` or set `requests_per_minute`.",
                internal_message=error.internal_message,
                failure_type=error.failure_type,
            ) from error

    def parse_response(
        self, response: requests.Response, *, stream_state=None, stream_slice=None, next_page_token=None
    ) -> Iterable[Mapping[str, Any]]:
        if not response.ok:  # a status the error handler let through: the end of paging, or a tolerated one
            if error_status(response) != "WRONG_PAGE":
                reason = self.tolerated_statuses.get(response.status_code)
                self.logger.warning(f"Skipped {request_path(response)}: HTTP {response.status_code}, {reason}")
            return []
        return self.records_from(json_body(response), response)

    def records_from(self, body: Any, response: requests.Response) -> Iterable[Mapping[str, Any]]:
        if not isinstance(body, dict) or self.primary_key not in body:
            raise unexpected_shape(request_path(response), f"JSON object with '{self.primary_key}'")
        return [body]

    def next_href(self, body: Any) -> Optional[str]:
        """The link to the next page, as the response gives it; None on the last page."""
        return None

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        if not response.ok:
            return None
        body = json_body(response)
        href = self.next_href(body)
        if not href or not self.records_from(body, response):
            return None  # an empty page ends paging even if it carries a link, so a confused server cannot loop us
        return self._follow(href, response)

    def _follow(self, href: str, response: requests.Response) -> Mapping[str, Any]:
        link = urlsplit(href)
        if link.scheme or link.netloc:
            if f"{link.scheme}://{link.netloc}".lower() != self.settings.origin.lower():
                raise AirbyteTracedException(
                    message=f"Freshchat's response to {request_path(response)} links its next page to another host; "
                    "refusing to send the API key there."
                )
        query = dict(parse_qsl(link.query))
        current = dict(parse_qsl(urlsplit(response.request.url or "").query))
        if link.path == urlsplit(response.request.url or "").path and query.items() <= current.items():
            raise AirbyteTracedException(
                message=f"Freshchat's response to {request_path(response)} links to the page it is on; stopping instead of looping."
            )
        return {"path": link.path, "query": query}


class FreshchatListStream(FreshchatStream, ABC):
    """A top-level list with Freshchat's shared envelope: `{<data_key>: [...], "pagination": {...}, "links": {"next_page": ...}}`."""

    data_key: str = ""

    def first_page_params(self, stream_state: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> MutableMapping[str, Any]:
        # Ascending order keeps pages stable while records are added during the sync.
        return {"page": 1, "items_per_page": PAGE_SIZE, "sort_order": "asc"}

    def records_from(self, body: Any, response: requests.Response) -> List[Mapping[str, Any]]:
        records = body.get(self.data_key) if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise unexpected_shape(request_path(response), f"'{self.data_key}' list")
        pagination = body.get("pagination")
        if isinstance(pagination, dict) and pagination.get("current_page") == 1 and isinstance(pagination.get("total_items"), int):
            self.progress.listed(pagination["total_items"])
        return records

    def next_href(self, body: Any) -> Optional[str]:
        return ((body.get("links") or {}).get("next_page") or {}).get("href")
