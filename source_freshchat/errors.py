"""What to do with each Freshchat response: succeed, retry, skip, or fail with a message a user can act on.

The CDK's default mapping is right for 429 and 5xx; Freshchat needs more:
- a wrong host can answer 200 with an HTML page, and proxies cut bodies short, so a 2xx is only a
  success when its body is JSON (retried otherwise, then failed with a clear message);
- 401 and 403 name their likely causes (key, datacenter/region, scope). A 401 means the key is
  refused for everything; a 403 on one endpoint (a token without that scope, a feature outside the
  plan) fails only its own stream, except on the account probe, where it means the wrong host;
- a 404 `WRONG_PAGE` means "past the last page", and a 404 on a child (user, conversation) means it
  was deleted between listing and fetching: each stream says which statuses it tolerates and why.
"""

import json
import logging
import threading
from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import HttpStatusErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

MAX_RETRIES = 6

UNAUTHORIZED_MESSAGE = (
    "Freshchat rejected the API key (HTTP 401). Check `api_key`: copy a current token from "
    "Freshchat > Admin > Configure > API Tokens (a regenerated token invalidates the old one)."
)
WRONG_HOST_HINT = (
    "`domain` points at the wrong account or datacenter (use your account's own host, e.g. acme-123-abc.freshchat.com, "
    "or the regional host such as api.eu.freshchat.com)"
)
FORBIDDEN_MESSAGE = (
    "Freshchat refused the request (HTTP 403 {detail}). Either " + WRONG_HOST_HINT + ", or the API token lacks the scope for {path}."
)
# Tells the user that a per-stream 403 (StreamForbidden) does not end the sync.
ONLY_THIS_STREAM = "The other streams are still read."
STREAM_FORBIDDEN_MESSAGE = (
    "Freshchat refused the `{stream}` stream's request {path} (HTTP 403 {detail}): the API token probably lacks the "
    "permission (scope) for it, or the account's plan does not include it. Grant it or deselect `{stream}`. "
    "If every stream fails like this, " + WRONG_HOST_HINT + ". " + ONLY_THIS_STREAM
)
NOT_JSON_MESSAGE = (
    "Freshchat answered HTTP {status} for {path} with a body that is not JSON ({kind}). "
    "If this persists, `domain` probably points at a host that is not the Freshchat API."
)

_MISSING = object()


def request_path(response_or_request: Union[requests.Response, requests.PreparedRequest, None]) -> str:
    """`GET /v2/users`: method and path, never the query or host, for messages and logs."""
    request = response_or_request.request if isinstance(response_or_request, requests.Response) else response_or_request
    if request is None or not request.url:
        return "Freshchat"
    return f"{request.method} {urlsplit(request.url).path}"


def json_body(response: requests.Response) -> Any:
    """The parsed body, parsed once: the error handler validates it and the stream reuses it."""
    cached = getattr(response, "_freshchat_json", _MISSING)
    if cached is _MISSING:
        cached = json.loads(response.content)
        response._freshchat_json = cached  # type: ignore[attr-defined]
    return cached


def error_status(response: requests.Response) -> Optional[str]:
    """Freshchat's error code word, e.g. WRONG_PAGE, from `{"code": 404, "status": "WRONG_PAGE", ...}`."""
    try:
        body = json_body(response)
    except ValueError:
        return None
    return body.get("status") if isinstance(body, dict) else None


class FreshchatErrorHandler(HttpStatusErrorHandler):
    """Maps a response to an action for one stream.

    `tolerated` holds the stream's statuses that mean "skip, and log why"; `forbidden_message` says what a 403
    means there (STREAM_FORBIDDEN_MESSAGE or FORBIDDEN_MESSAGE), formatted with stream, path and detail.
    """

    def __init__(
        self,
        logger: logging.Logger,
        tolerated: Mapping[int, str],
        max_retries: int = MAX_RETRIES,
        stream_name: str = "",
        forbidden_message: str = STREAM_FORBIDDEN_MESSAGE,
    ) -> None:
        super().__init__(logger=logger, max_retries=max_retries)
        self._tolerated = tolerated
        self._stream_name = stream_name
        self._forbidden_message = forbidden_message
        self._last = threading.local()  # per thread, as the walk's workers share a stream's handler

    def refused_last(self) -> bool:
        """True when the last response this thread's request got was a 403 (the request then fails with its message)."""
        return getattr(self._last, "forbidden", False)

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]] = None) -> ErrorResolution:
        self._last.forbidden = False
        if isinstance(response_or_exception, requests.RequestException) and not isinstance(response_or_exception, requests.HTTPError):
            # The default mapping matches exception classes exactly, so timeouts and resets would fall through to an error log.
            return ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"{type(response_or_exception).__name__} calling {request_path(response_or_exception.request)}",
            )
        if not isinstance(response_or_exception, requests.Response):
            return super().interpret_response(response_or_exception)
        response = response_or_exception
        path = request_path(response)
        if response.ok:
            return self._interpret_success(response, path)
        status = response.status_code
        if status == 404 and error_status(response) == "WRONG_PAGE":
            return ErrorResolution(ResponseAction.IGNORE, None, f"{path}: past the last page (404 WRONG_PAGE), paging ends here")
        if status in self._tolerated:
            return ErrorResolution(ResponseAction.IGNORE, None, f"Skipping {path}: HTTP {status}, {self._tolerated[status]}")
        if status == 401:
            return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, UNAUTHORIZED_MESSAGE)
        if status == 403:
            self._last.forbidden = True
            detail = (error_message(response) or "Forbidden").strip()
            message = self._forbidden_message.format(stream=self._stream_name, detail=detail, path=path)
            return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, message)
        resolution = self._error_mapping.get(status)
        action = resolution.response_action if resolution else (ResponseAction.RETRY if status >= 500 else ResponseAction.FAIL)
        failure_type = (
            FailureType.transient_error if action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED) else FailureType.system_error
        )
        detail = error_message(response)
        return ErrorResolution(action, failure_type, f"HTTP {status} from {path}" + (f": {detail}" if detail else ""))

    @staticmethod
    def _interpret_success(response: requests.Response, path: str) -> ErrorResolution:
        content_type = response.headers.get("Content-Type", "")
        kind = (
            "an HTML page" if "html" in content_type else ("an empty body" if not response.content else "a cut-off or malformed JSON body")
        )
        if "html" not in content_type:
            try:
                json_body(response)
                return ErrorResolution(ResponseAction.SUCCESS, None, None)
            except ValueError:
                pass
        return ErrorResolution(
            ResponseAction.RETRY, FailureType.transient_error, NOT_JSON_MESSAGE.format(status=response.status_code, path=path, kind=kind)
        )


class StreamForbidden(AirbyteTracedException):
    """A 403 on one stream's endpoint (a scope or plan it lacks): that stream fails, and the sync goes on with the others."""


def rate_limit_exhausted(error: AirbyteTracedException) -> bool:
    """True for the CDK's error once HTTP 429 has outlasted the retries.

    The CDK raises it while handling the last backoff exception, whose response is the 429.
    """
    cause = error.__cause__ or error.__context__
    return (
        isinstance(cause, BaseBackoffException)
        and isinstance(cause.response, requests.Response)
        and cause.response.status_code == requests.codes.too_many_requests
    )


def error_message(response: requests.Response) -> Optional[str]:
    try:
        body = json_body(response)
    except ValueError:
        return None
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("status", "message") if body.get(key)]
        return " - ".join(parts) or None
    return None


RESPONSE_CONTENT = ", Response Content: "  # how the CDK's retry log introduces the body


class ResponseBodyLogFilter(logging.Filter):
    """Keeps response bodies out of the CDK's retry logs.

    Before retrying a response whose status is OK (for Freshchat: HTML or a cut-off JSON body), the
    CDK logs "Status code: 200, Response Content: b'...'" with the whole body: customer records, or
    a whole web page. The status stays in the log; the retry line after it names the request and why.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Status code: ") and RESPONSE_CONTENT in message:
            status = message.split(RESPONSE_CONTENT, 1)[0]
            record.msg, record.args = f"{status}; the response body is not logged, as it may hold customer data", ()
        return True


RESPONSE_BODY_LOG_FILTER = ResponseBodyLogFilter()


def unexpected_shape(path: str, expected: str) -> AirbyteTracedException:
    message = f"Freshchat's response to {path} has no {expected}; the API may have changed. Please report this with the sync logs."
    return AirbyteTracedException(message=message, internal_message=message)
