"""HTTP side of the Freshchat emulator: routes, envelopes, faults, rate limit, counters, as the Behaviour switches say.

A request goes through one pipeline (`FreshchatEmulator._respond`): wrong-host HTML, latency,
rate window, then either a fault (scripted first, else drawn from the seeded RNG) or normal
serving (auth, rate limit, route handler under the data lock). Handlers return JSON-able
payloads (or, for message pages, bytes spliced from the dataset's per-message JSON cache).
The Extract API's routes hand over to `reports.ReportDesk`, which also serves the second HTTP
server, the storage host of report downloads (`FreshchatEmulator.handle_storage`).
"""

from __future__ import annotations

import collections
import json
import math
import operator
import random
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Callable, Iterable, Mapping, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

from .behaviour import Behaviour
from .data import DATA_START_MS, Dataset, canonical_timestamp, encode_json, recent_start_ms
from .reports import ReportDesk, storage_cookie
from .responses import ApiError, Response, bad_request, too_many_requests
from .tls import ServerCertificate

HTML_TYPE = "text/html; charset=utf-8"
MAX_ITEMS_PER_PAGE = 50
# A client that forgets items_per_page gets small pages and visibly more requests.
DEFAULT_ITEMS_PER_PAGE = 10
# Headers are sent even without a configured limit, counting down from this.
UNLIMITED_RATE = 100_000
# Error statuses inject() accepts, with the status names their bodies carry.
INJECTABLE_ERRORS = {
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}
# What a wrong host (not Freshchat) answers with status 200.
LOGIN_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Log in | Freshworks</title>'
    b'</head><body><form action="/login" method="post"><input name="email">'
    b'<input name="password" type="password"><button>Log in</button></form></body></html>'
)


# -- requests and routes ---------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    query: dict  # last value wins for a repeated parameter
    headers: Mapping  # case-insensitive (the handler's message object)
    route: "Route"
    path_params: dict
    body: bytes
    reports: ReportDesk


# A handler returns a JSON-able payload, bytes already encoded, or a whole Response.
Handler = Callable[[Request, Dataset, Behaviour], object]


@dataclass(frozen=True)
class Route:
    template: str  # "GET /v2/users/{id}/conversations": the key of counters and inject()
    handler: Handler
    pattern: Optional[re.Pattern] = None

    @classmethod
    def of(cls, template: str, handler: Handler) -> "Route":
        method, path = template.split(" ", 1)
        path_regex = re.escape(path).replace(r"\{id\}", r"(?P<id>[^/]+)")
        return cls(template, handler, re.compile(f"{method} {path_regex}"))


def _positive_int(query: dict, name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise bad_request(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _parse_timestamp(text: str) -> str:
    try:
        return canonical_timestamp(text)
    except ValueError:
        raise bad_request(f"not an ISO-8601 timestamp: {text!r}") from None


def _timestamp_param(query: dict, name: str) -> Optional[str]:
    return _parse_timestamp(query[name]) if name in query else None


# -- paging and envelopes --------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list
    number: int
    size: int
    total_items: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_items / self.size)

    @property
    def has_next(self) -> bool:
        return self.number < self.total_pages


def _page_size(query: dict, behaviour: Behaviour) -> int:
    size = _positive_int(query, "items_per_page", DEFAULT_ITEMS_PER_PAGE)
    if size <= MAX_ITEMS_PER_PAGE:
        return size
    if behaviour.over_max_page_size == "reject":
        raise bad_request(f"items_per_page must not exceed {MAX_ITEMS_PER_PAGE}")
    return MAX_ITEMS_PER_PAGE


def _paginate(items: list, query: dict, behaviour: Behaviour) -> Page:
    number = _positive_int(query, "page", 1)
    size = _page_size(query, behaviour)
    page = Page(items[(number - 1) * size : number * size], number, size, len(items))
    past_end = number > max(page.total_pages, 1)
    if past_end and behaviour.page_past_end == "404":
        raise ApiError(404, "WRONG_PAGE", f"page {number} is beyond the last page {page.total_pages}")
    return page


def _page_href(request: Request, page_number: int, page_size: int) -> str:
    """A relative link that includes /v2 and repeats the request's parameters, as the API's do."""
    params = {"page": page_number, "items_per_page": page_size}
    params.update((name, value) for name, value in request.query.items() if name not in params)
    return f"{request.path}?{urlencode(params)}"


def _link(href: str, rel: str) -> dict:
    return {"href": href, "rel": rel, "type": "GET"}


def _list_envelope(key: str, rel: str, page: Page, request: Request) -> dict:
    """The envelope shared by users, agents, groups, channels, roles and outbound messages."""
    targets = (
        ("first_page", 1),
        ("next_page", page.number + 1 if page.has_next else None),
        ("previous_page", page.number - 1 if page.number > 1 else None),
        ("last_page", max(page.total_pages, 1)),
    )
    return {
        key: page.items,
        "pagination": {
            "total_items": page.total_items,
            "total_pages": page.total_pages,
            "current_page": page.number,
            "items_per_page": page.size,
        },
        "links": {name: _link(_page_href(request, number, page.size), rel) for name, number in targets if number is not None},
    }


# -- list endpoints --------------------------------------------------------------------------
FilterBuilder = Callable[[str, Behaviour], Callable[[dict], bool]]


def _query_text(value) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _matches(field_name: str) -> FilterBuilder:
    """Case-insensitive equality, so emails match in any case and flags as "true"/"false"."""
    return lambda wanted, _: lambda record: _query_text(record.get(field_name)).lower() == wanted.lower()


def _contains(field_name: str) -> FilterBuilder:
    return lambda wanted, _: lambda record: wanted in record.get(field_name, ())


def _time_bound(field_name: str, compare) -> FilterBuilder:
    def build(text: str, _: Behaviour):
        bound = _parse_timestamp(text)
        return lambda record: compare(record[field_name], bound)  # canonical strings sort as instants

    return build


def _ignored_unless(switch: Callable[[Behaviour], bool], build: FilterBuilder) -> FilterBuilder:
    return lambda text, behaviour: build(text, behaviour) if switch(behaviour) else (lambda record: True)


def _filters_on_updated(behaviour: Behaviour) -> bool:
    return behaviour.users_filter_updated_from


@dataclass(frozen=True)
class ListSpec:
    key: str  # the envelope key, e.g. "agents"
    rel: str  # the links' rel, e.g. "agent"
    source: Callable[[Dataset], Iterable[dict]]
    primary_key: str = "id"
    sortable: tuple = ()
    default_sort_by: Optional[str] = None  # None: the API's natural (creation) order
    filters: Mapping[str, FilterBuilder] = field(default_factory=dict)


def _sorted(spec: ListSpec, records: list, query: dict) -> list:
    sort_by = query.get("sort_by", spec.default_sort_by)
    if sort_by is not None and sort_by not in spec.sortable:
        raise bad_request(f"sort_by must be one of {spec.sortable}")
    sort_order = query.get("sort_order", "asc")
    if sort_order not in ("asc", "desc"):
        raise bad_request("sort_order must be asc or desc")
    if sort_by is not None:  # missing values last, ties broken by primary key for stable pages
        records = sorted(records, key=lambda record: (record.get(sort_by) is None, record.get(sort_by), record[spec.primary_key]))
    return records[::-1] if sort_order == "desc" else records


def _serve_list(spec: ListSpec, request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    predicates = [build(request.query[name], behaviour) for name, build in spec.filters.items() if name in request.query]
    matching = [record for record in spec.source(data) if all(test(record) for test in predicates)]
    page = _paginate(_sorted(spec, matching, request.query), request.query, behaviour)
    return _list_envelope(spec.key, spec.rel, page, request)


def _list_handler(spec: ListSpec) -> Handler:
    return lambda request, data, behaviour: _serve_list(spec, request, data, behaviour)


USERS = ListSpec(
    "users",
    "user",
    lambda data: data.users.values(),
    sortable=("created_time", "updated_time"),
    default_sort_by="created_time",
    filters={
        "created_from": _time_bound("created_time", operator.ge),
        "created_to": _time_bound("created_time", operator.le),
        # Whether Freshchat really filters on updated_* is unknown; the behaviour decides.
        "updated_from": _ignored_unless(_filters_on_updated, _time_bound("updated_time", operator.ge)),
        "updated_to": _ignored_unless(_filters_on_updated, _time_bound("updated_time", operator.le)),
        "email": _matches("email"),
        "reference_id": _matches("reference_id"),
    },
)
AGENTS = ListSpec(
    "agents",
    "agent",
    lambda data: data.agents,
    sortable=("created_time", "email", "first_name", "last_name"),
    filters={
        "is_deactivated": _matches("is_deactivated"),
        "availability_status": _matches("availability_status"),
        "groups": _contains("groups"),
    },
)
GROUPS = ListSpec("groups", "group", lambda data: data.groups, sortable=("name",))
CHANNELS = ListSpec("channels", "channel", lambda data: data.channels, sortable=("name", "updated_time"))
ROLES = ListSpec("roles", "role", lambda data: data.roles, sortable=("name",))
OUTBOUND_MESSAGES = ListSpec(
    "outbound_messages",
    "outbound_message",
    lambda data: data.outbound_messages,
    primary_key="message_id",
    sortable=("created_on",),
    filters={"request_id": _matches("request_id")},
)


def _users(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    if not USERS.filters.keys() & request.query.keys():
        raise bad_request(f"at least one filter is required: {', '.join(USERS.filters)}")
    return _serve_list(USERS, request, data, behaviour)


OUTBOUND_REFUSALS = {"list": None, "refuse_400": (400, "BAD_REQUEST"), "refuse_404": (404, "NOT_FOUND")}


def _outbound_messages(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    # Only request_id lookups are documented; whether a bare list is allowed is unknown.
    refusal = OUTBOUND_REFUSALS[behaviour.outbound_list]
    if refusal and "request_id" not in request.query:
        raise ApiError(*refusal, "request_id is required")
    return _serve_list(OUTBOUND_MESSAGES, request, data, behaviour)


# -- single-resource endpoints ---------------------------------------------------------------
def _account_configuration(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    account = dict(data.account)
    if not behaviour.account_time_zone:
        del account["timezone"]
    elif behaviour.report_time_zone is not None:
        account["timezone"] = behaviour.report_time_zone
    return account


def _conversation_fields(request: Request, data: Dataset, behaviour: Behaviour) -> list:
    return data.conversation_fields


def _user_conversations(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    user_id = request.path_params["id"]
    if user_id not in data.users:
        raise ApiError(404, "USER_NOT_FOUND", f"user {user_id} not found")
    return {"conversations": [{"id": conversation_id} for conversation_id in data.user_conversations[user_id]]}


def _existing_conversation_id(request: Request, data: Dataset) -> str:
    conversation_id = request.path_params["id"]
    if conversation_id not in data.conversations:
        raise ApiError(404, "CONVERSATION_NOT_FOUND", f"conversation {conversation_id} not found")
    return conversation_id


def _conversation(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    return data.conversations[_existing_conversation_id(request, data)]


def _conversation_messages(request: Request, data: Dataset, behaviour: Behaviour) -> bytes:
    thread = data.messages[_existing_conversation_id(request, data)]
    # from_time is an upper bound: the page holds messages at or before it, newest first.
    upper_bound = _timestamp_param(request.query, "from_time")
    newest_first = [message for message in reversed(thread) if upper_bound is None or message["created_time"] <= upper_bound]
    page = _paginate(newest_first, request.query, behaviour)
    body = b'{"messages":[' + b",".join(map(data.message_json, page.items)) + b"]"
    if page.has_next:
        body += b',"link":' + encode_json(_link(_page_href(request, page.number + 1, page.size), "next"))
    return body + b"}"


def _create_report(request: Request, data: Dataset, behaviour: Behaviour) -> Response:
    return request.reports.create(request.body, behaviour)


def _report_status(request: Request, data: Dataset, behaviour: Behaviour) -> dict:
    return request.reports.status(request.path_params["id"], data, behaviour)


def _no_route(request: Request, data: Dataset, behaviour: Behaviour):
    raise ApiError(404, "NOT_FOUND", f"no such endpoint: {request.method} {request.path}")


# Literal paths come before {id} patterns that would also match them.
ROUTES = tuple(
    Route.of(template, handler)
    for template, handler in (
        ("GET /v2/accounts/configuration", _account_configuration),
        ("GET /v2/users", _users),
        ("GET /v2/users/{id}/conversations", _user_conversations),
        ("GET /v2/conversations/fields", _conversation_fields),
        ("GET /v2/conversations/{id}", _conversation),
        ("GET /v2/conversations/{id}/messages", _conversation_messages),
        ("GET /v2/agents", _list_handler(AGENTS)),
        ("GET /v2/groups", _list_handler(GROUPS)),
        ("GET /v2/channels", _list_handler(CHANNELS)),
        ("GET /v2/roles", _list_handler(ROLES)),
        ("GET /v2/outbound-messages", _outbound_messages),
        ("POST /v2/reports/raw", _create_report),
        ("GET /v2/reports/raw/{id}", _report_status),
    )
)
# The storage host's one route: the key of its counter and of inject(); "*" does not reach it.
STORAGE_ROUTE = "GET storage"
ROUTE_TEMPLATES = frozenset(route.template for route in ROUTES)


def _match_route(method: str, path: str) -> tuple[Route, dict]:
    """The route and its path parameters; an unknown path is keyed by itself and answers 404."""
    request_line = f"{method} {path}"
    for route in ROUTES:
        matched = route.pattern.fullmatch(request_line)
        if matched:
            return route, matched.groupdict()
    return Route(f"{method} {path}", _no_route), {}


# -- auth and rate limit ---------------------------------------------------------------------
def _check_auth(headers: Mapping, api_key: str, behaviour: Behaviour) -> None:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token in behaviour.forbidden_keys:
        raise ApiError(403, "FORBIDDEN", "Auth failure")
    if scheme.lower() != "bearer" or token != api_key:
        raise ApiError(401, "UNAUTHORIZED", "Invalid or missing Bearer token")


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    window_end: float  # Unix time
    exceeded: bool
    reset_rounding: str = "up"

    def headers(self) -> dict:
        rounded = math.ceil if self.reset_rounding == "up" else math.floor
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(rounded(self.window_end)),
        }

    def seconds_left(self) -> int:
        return max(1, math.ceil(self.window_end - time.time()))


class _RateWindow:
    """A fixed window of requests, opened by the first request after the previous one ends, or on the clock's multiples of its length."""

    def __init__(self):
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._count = 0

    def take(self, behaviour: Behaviour) -> Quota:
        window = behaviour.rate_limit_window_seconds
        limit = UNLIMITED_RATE if behaviour.rate_limit is None else behaviour.rate_limit
        with self._lock:
            now = time.time()
            if now >= self._window_start + window:
                start = now if behaviour.rate_limit_window_opens == "first_request" else math.floor(now / window) * window
                self._window_start, self._count = start, behaviour.rate_limit_spent_by_others
            self._count += 1
            return Quota(
                limit=limit,
                remaining=max(limit - self._count, 0),
                window_end=self._window_start + window,
                exceeded=behaviour.rate_limit is not None and self._count > limit,
                reset_rounding=behaviour.rate_limit_reset_rounding,
            )


# -- faults ----------------------------------------------------------------------------------
# A fault gets the normal serving as a thunk, so it may replace it, delay it or damage its body.
Serve = Callable[[], Response]


def _error_fault(status: int):
    def fault(serve: Serve, behaviour: Behaviour) -> Response:
        if status != 429:
            return ApiError(status, INJECTABLE_ERRORS[status], f"injected {status}").response()
        # A scripted 429 announces a short, consistent wait so retrying tests stay fast.
        wait = behaviour.injected_retry_after_seconds
        exhausted = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(math.ceil(time.time() + wait))}
        return too_many_requests(wait, behaviour.retry_after, exhausted).response()

    return fault


def _html_page(serve: Serve, behaviour: Behaviour) -> Response:
    return Response(200, LOGIN_PAGE, HTML_TYPE)


def _truncated(serve: Serve, behaviour: Behaviour) -> Response:
    body = serve().body
    return Response(200, body[: len(body) // 2])


def _reset(serve: Serve, behaviour: Behaviour) -> None:
    return None


def _hang(serve: Serve, behaviour: Behaviour) -> Response:
    time.sleep(behaviour.hang_seconds)
    return serve()


def _empty_200(serve: Serve, behaviour: Behaviour) -> Response:
    return Response(200, b"")


def _wrong_shape(serve: Serve, behaviour: Behaviour) -> Response:
    # Valid JSON whose top level lacks the envelope key (or the bare object/array) expected.
    return Response(200, b'{"status":"OK","data":' + serve().body + b"}")


FAULTS: dict = {status: _error_fault(status) for status in INJECTABLE_ERRORS}
FAULTS.update(html=_html_page, truncated=_truncated, reset=_reset, hang=_hang, empty_200=_empty_200, wrong_shape=_wrong_shape)
# Behaviour rate fields and the faults each one draws from.
RANDOM_FAULTS = (
    ("error_rate", (500, 502, 503)),
    ("html_rate", ("html",)),
    ("truncated_rate", ("truncated",)),
    ("reset_rate", ("reset",)),
    ("hang_rate", ("hang",)),
)


# -- HTTP plumbing ---------------------------------------------------------------------------
class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out as two writes; don't let Nagle hold the second

    def do_GET(self):
        response = self.server.handle(self.command, self.path, self.headers, self._request_body())
        if response is None:
            self.close_connection = True  # the "reset" fault: no bytes at all
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _request_body(self) -> bytes:
        """Reads the whole body, which also lets the next request on this keep-alive connection start cleanly."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format, *args):
        """Silent: per-request logging to stderr would dominate benchmark time."""


class _HttpServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(
        self, address, handle: Callable[[str, str, Mapping, bytes], Optional[Response]], certificate: Optional[ServerCertificate] = None
    ):
        self.handle = handle
        self.certificate = certificate
        self.connections_opened = 0  # TCP connections accepted: each one a handshake a client paid for
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on reverse DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
            self.connections_opened += 1
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        if self.certificate is None:
            return super().finish_request(request, client_address)
        try:
            secured = self.certificate.wrap(request)
        except (ssl.SSLError, OSError):
            return  # a client that gave up on the handshake, or distrusts the certificate: its own error to report
        with self._connections_lock:  # the wrapped socket now owns the connection: it is the one to close at stop
            self._connections.discard(request)
            self._connections.add(secured)
        try:
            super().finish_request(secured, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(secured)
            secured.close()

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # Clients that time out or hang up (hang and reset faults invite it) are routine;
        # anything else is an emulator bug and keeps its traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Ends kept-alive connections so a stopped emulator stops answering on them too."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


def _serve_in_background(
    address: tuple, handle, name: str, certificate: Optional[ServerCertificate] = None
) -> tuple[_HttpServer, threading.Thread]:
    server = _HttpServer(address, handle, certificate)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True)
    thread.start()
    return server, thread


def _base_url(server: _HttpServer) -> str:
    host, port = server.server_address[:2]
    return f"{'https' if server.certificate else 'http'}://{host}:{port}"


class FreshchatEmulator:
    """A local Freshchat REST API v2 over a deterministic, mutable dataset, plus the storage host of its reports.

    `recent=True` dates the data so most of it lies within the Extract API's 15 months and runs
    mutations on a live clock (see Dataset); it overrides start_ms and live_clock.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 20,
        conversations_per_user: int = 2,
        messages_per_conversation: int = 7,
        api_key: str = "test-api-key",
        behaviour: Optional[Behaviour] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_ms: int = DATA_START_MS,
        live_clock: bool = False,
        recent: bool = False,
        tls: bool = False,
    ):
        self.api_key = api_key
        self.tls = tls
        self.behaviour = behaviour or Behaviour()
        if recent:
            start_ms, live_clock = recent_start_ms(), True
        self.data = Dataset(
            seed,
            users,
            conversations_per_user,
            messages_per_conversation,
            message_bumps_conversation=lambda: self.behaviour.message_bumps_conversation,
            start_ms=start_ms,
            live_clock=live_clock,
        )
        self.reports = ReportDesk()
        self.request_counts: collections.Counter = collections.Counter()
        self.status_counts: collections.Counter = collections.Counter()
        self.request_log: list = []
        self.storage_log: list = []  # (path, query, headers, status) of each storage request
        self._address = (host, port)
        self._stats_lock = threading.Lock()
        self._faults_lock = threading.Lock()
        self._fault_rng = random.Random(seed)
        self._scripted_faults: dict = collections.defaultdict(collections.deque)
        self._callbacks: list = []
        self._rate_window = _RateWindow()
        self._servers: list[tuple[_HttpServer, threading.Thread]] = []  # the API's, then the storage host's
        self._certificate: Optional[ServerCertificate] = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FreshchatEmulator":
        if self._servers:
            raise RuntimeError("emulator already started")
        storage_address = (self._address[0], 0)
        self._certificate = ServerCertificate() if self.tls else None
        self._servers = [
            _serve_in_background(self._address, self.handle, "freshchat-emulator", self._certificate),
            _serve_in_background(storage_address, self.handle_storage, "freshchat-storage", self._certificate),
        ]
        self.reports.storage_url = self.storage_url
        return self

    def stop(self) -> None:
        """Stops serving within one poll interval and closes kept-alive connections."""
        for server, thread in self._servers:
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join()
        self._servers = []
        if self._certificate is not None:
            self._certificate.close()
            self._certificate = None

    def __enter__(self) -> "FreshchatEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return _base_url(self._server(0))

    @property
    def storage_url(self) -> str:
        """The storage host that report links point at: same bind host, its own port."""
        return _base_url(self._server(1))

    def _server(self, index: int) -> _HttpServer:
        if not self._servers:
            raise RuntimeError("emulator not started")
        return self._servers[index][0]

    @property
    def ca_bundle(self) -> Optional[str]:
        """The certificate a client trusts (e.g. through REQUESTS_CA_BUNDLE) while the emulator serves TLS; None over plain HTTP."""
        return str(self._certificate.ca_bundle) if self._certificate else None

    @property
    def connections_opened(self) -> int:
        """Connections to the API (not the storage host) accepted since start or the last reset_counters()."""
        return self._servers[0][0].connections_opened if self._servers else 0

    def config(self, **overrides) -> dict:
        return {"domain": self.url, "api_key": self.api_key, **overrides}

    # -- test controls ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        with self._stats_lock:
            self.request_counts.clear()
            self.status_counts.clear()
            self.request_log.clear()
            self.storage_log.clear()
        for server, _ in self._servers:
            server.connections_opened = 0

    def new_day(self) -> None:
        """The Extract API's daily quota starts again, as at midnight UTC."""
        self.reports.new_day()

    def expire_links(self) -> None:
        """Every report link issued so far answers 403 "Request has expired"; polling the job again gives fresh ones."""
        self.reports.expire_links()

    def inject(self, route: str, faults: list) -> None:
        """Queues faults for the next requests on a route template ("*": any API route), in order.

        STORAGE_ROUTE ("GET storage") queues faults for report downloads.
        """
        if route not in ("*", STORAGE_ROUTE) and route not in ROUTE_TEMPLATES:
            expected = sorted(ROUTE_TEMPLATES | {STORAGE_ROUTE})
            raise ValueError(f"unknown route template {route!r}; expected '*' or one of {expected}")
        unknown = [fault for fault in faults if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; expected some of {list(FAULTS)}")
        with self._faults_lock:
            self._scripted_faults[route].extend(faults)

    def on_request(self, callback: Callable[[str, str, dict], None]) -> None:
        """Calls callback(route_template, path, query) before each request is served.

        It runs outside the data lock, so it may mutate `data` between pages. An exception in it
        aborts that request (the connection closes unanswered and the traceback goes to stderr).
        """
        self._callbacks.append(callback)

    def clear_callbacks(self) -> None:
        self._callbacks.clear()

    # -- serving ---------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Mapping, body: bytes = b"") -> Optional[Response]:
        """Serves one API request and records it; None means: close the connection unanswered."""
        url = urlsplit(raw_path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        route, path_params = _match_route(method, url.path)
        with self._stats_lock:
            self.request_counts[route.template] += 1
        for callback in list(self._callbacks):
            callback(route.template, url.path, query)  # outside the data lock: it may mutate data
        response = self._respond(Request(method, url.path, query, headers, route, path_params, body, self.reports))
        status = None if response is None else response.status
        with self._stats_lock:
            if status is not None:
                self.status_counts[status] += 1
            self.request_log.append((method, url.path, query, status, dict(headers.items())))
        return response

    def handle_storage(self, method: str, raw_path: str, headers: Mapping, body: bytes = b"") -> Optional[Response]:
        """Serves one storage request (a report download): latency and scripted faults apply, random faults do not."""
        url = urlsplit(raw_path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        with self._stats_lock:
            self.request_counts[f"{method} storage"] += 1
        behaviour = self.behaviour
        if behaviour.latency_ms:
            time.sleep(behaviour.latency_ms / 1000)

        def serve() -> Response:
            return self.reports.download(method, url.path, query, headers, behaviour)

        fault = self._next_fault(STORAGE_ROUTE, behaviour, wildcard=False)
        response = serve() if fault is None else FAULTS[fault](serve, behaviour)
        if response is not None:
            response.headers["Set-Cookie"] = storage_cookie()
        with self._stats_lock:
            self.storage_log.append((url.path, query, dict(headers.items()), None if response is None else response.status))
        return response

    def _respond(self, request: Request) -> Optional[Response]:
        behaviour = self.behaviour
        if behaviour.html_everywhere:
            return Response(200, LOGIN_PAGE, HTML_TYPE)  # not Freshchat at all: no rate headers either
        if behaviour.latency_ms:
            time.sleep(behaviour.latency_ms / 1000)
        quota = self._rate_window.take(behaviour)
        fault = self._next_fault(request.route.template, behaviour)

        def serve() -> Response:
            return self._serve(request, behaviour, quota)

        response = serve() if fault is None else FAULTS[fault](serve, behaviour)
        if response is not None:
            response.headers = {**quota.headers(), **response.headers}
        return response

    def _serve(self, request: Request, behaviour: Behaviour, quota: Quota) -> Response:
        try:
            _check_auth(request.headers, self.api_key, behaviour)
            if quota.exceeded:
                raise too_many_requests(quota.seconds_left(), behaviour.retry_after)
            with self.data.lock:  # encode while no mutation can run
                result = request.route.handler(request, self.data, behaviour)
                if isinstance(result, Response):
                    return result
                return Response(200, result if isinstance(result, bytes) else encode_json(result))
        except ApiError as error:
            return error.response()

    def _next_fault(self, template: str, behaviour: Behaviour, wildcard: bool = True):
        """A scripted fault for this route, else (with wildcard) one for "*" or a seeded random draw."""
        with self._faults_lock:
            for key in (template, "*") if wildcard else (template,):
                if self._scripted_faults.get(key):
                    return self._scripted_faults[key].popleft()
            return self._draw_random_fault(behaviour) if wildcard else None

    def _draw_random_fault(self, behaviour: Behaviour):
        rates = [(getattr(behaviour, name), faults) for name, faults in RANDOM_FAULTS]
        if not any(rate for rate, _ in rates):
            return None  # no draw: the happy path leaves the RNG untouched
        draw = self._fault_rng.random()
        for rate, faults in rates:
            if draw < rate:
                return self._fault_rng.choice(faults)
            draw -= rate
        return None
