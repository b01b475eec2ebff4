"""What every emulated host answers with: a response, and the API's JSON errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .data import encode_json

JSON_TYPE = "application/json"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict = field(default_factory=dict)


class ApiError(Exception):
    """An error the API reports as {"code", "status", "message"}."""

    def __init__(self, status: int, code_name: str, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code_name, self.message = status, code_name, message
        self.headers = headers or {}

    def response(self) -> Response:
        payload = {"code": self.status, "status": self.code_name, "message": self.message}
        return Response(self.status, encode_json(payload), headers=self.headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def too_many_requests(wait_seconds: int, send_retry_after: bool, headers: Optional[dict] = None) -> ApiError:
    headers = dict(headers or {})
    if send_retry_after:
        headers["Retry-After"] = str(wait_seconds)
    return ApiError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded, retry later", headers)
