"""The fault matrix: every fault Freshchat (or the network) may throw, on the route that feeds each stream.

Each case runs the connector in-process against a fresh, small emulator with one fault scripted on one
route, then checks the outcome the issue asks for:

- faults to survive: the stream's records equal the emulator's data (by primary key, no duplicates),
  no error trace, and the fault was really served (status counts, retries taken, or log lines prove it);
- faults that must fail loudly: an error trace for the stream whose message names the cause (status and
  URL path, or the config field), the right failure_type, no retry storm, and a failed sync;
- in every case, the API key (unique per case) appears nowhere in the captured output: messages, logs,
  state, traces, stdout and stderr.

Retries are instant: the CDK's retry handlers (`rate_limiting`, `backoff._sync`) get a `time` whose
`sleep` only records the wait, and the CDK's call-rate budget (`call_rate`) runs on a virtual clock that
such a sleep moves forward. The global `time.sleep` is untouched: the emulator's threads use it for hangs.
Only the hang cases shorten the connector's read timeout, to HUNG_READ_TIMEOUT: a real timeout, which a
busy machine can also hit on an ordinary request, so they assert a retry and nothing lost, not a count.
"""

import datetime as real_datetime
import json
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import orjson
import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, AirbyteStreamStatus, FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.models.outcome import ExpectedOutcome

import source_freshchat.base as freshchat_base
import source_freshchat.rate_limit as freshchat_rate_limit
from source_freshchat import SourceFreshchat
from source_freshchat.config import DEFAULT_NUM_WORKERS
from source_freshchat.errors import MAX_RETRIES

from .emulator import FreshchatEmulator
from .emulator import server as emulator_server
from .harness import CONNECTOR, by_key, primary_key, reachable_records

HUNG_READ_TIMEOUT = 3.0  # the hang cases' read timeout: loopback answers take milliseconds, a slower one costs a retry
HANG_SECONDS = 10 * HUNG_READ_TIMEOUT  # long after the connector gave up; the emulator's threads are daemons, never waited for
NUM_WORKERS = DEFAULT_NUM_WORKERS  # fan-out faults meet concurrent requests
RETRY_AFTER = 30  # what a scripted 429 announces: far above any exponential first wait, so honouring it shows
RANDOM_FAULT_CAP = 4  # random faults stop after this many, so no single request can exhaust its retries

# Where each stream's data comes from: (stream, route template of the emulator). Conversations have two routes of their own.
TARGETS: Dict[str, Tuple[str, str]] = {
    "account": ("account", "GET /v2/accounts/configuration"),
    "users": ("users", "GET /v2/users"),
    "conversations-listing": ("conversations", "GET /v2/users/{id}/conversations"),
    "conversations-detail": ("conversations", "GET /v2/conversations/{id}"),
    "messages": ("messages", "GET /v2/conversations/{id}/messages"),
    "messages-user-listing": ("messages", "GET /v2/users"),  # the users walk behind conversations and messages
    "conversation_properties": ("conversation_properties", "GET /v2/conversations/fields"),
    "agents": ("agents", "GET /v2/agents"),
    "groups": ("groups", "GET /v2/groups"),
    "channels": ("channels", "GET /v2/channels"),
    "roles": ("roles", "GET /v2/roles"),
    "outbound_messages": ("outbound_messages", "GET /v2/outbound-messages"),
}
PAGED_TARGETS = ("users", "messages", "agents", "groups", "channels", "roles", "outbound_messages")
FAN_OUT_TARGETS = ("conversations-listing", "conversations-detail", "messages")


# -- instant retries ----------------------------------------------------------------------------
class FakeClock:
    """Records the waits the CDK asks for instead of sleeping; the call-rate budget sees them pass."""

    def __init__(self) -> None:
        self.retry_waits: List[float] = []  # one per retry the CDK's retry handlers took
        self.budget_waits: List[float] = []  # the call-rate budget pausing for X-RateLimit-Remaining
        self.offset = 0.0
        self._lock = threading.Lock()

    def retry_sleep(self, seconds: float) -> None:
        with self._lock:
            self.retry_waits.append(seconds)

    def backoff_sleep(self, seconds: float) -> None:
        # backoff's own loop; the CDK's user-defined handler waits in `rate_limiting` and passes 0 here
        if seconds:
            self.retry_sleep(seconds)

    def budget_sleep(self, seconds: float) -> None:
        with self._lock:
            self.budget_waits.append(seconds)
            self.offset += seconds

    @property
    def retries(self) -> int:
        return len(self.retry_waits)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    import backoff._sync
    from airbyte_cdk.sources.streams import call_rate
    from airbyte_cdk.sources.streams.http import rate_limiting

    fake = FakeClock()
    monkeypatch.setattr(rate_limiting, "time", SimpleNamespace(sleep=fake.retry_sleep, time=time.time, monotonic=time.monotonic))
    monkeypatch.setattr(backoff._sync, "time", SimpleNamespace(sleep=fake.backoff_sleep, time=time.time, monotonic=time.monotonic))

    class VirtualDateTime(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.datetime.now(tz) + real_datetime.timedelta(seconds=fake.offset)

    monkeypatch.setattr(call_rate, "datetime", SimpleNamespace(datetime=VirtualDateTime, timedelta=real_datetime.timedelta))
    monkeypatch.setattr(call_rate, "time", SimpleNamespace(sleep=fake.budget_sleep, time=time.time, monotonic=time.monotonic))
    virtual_time = SimpleNamespace(
        sleep=fake.budget_sleep, time=lambda: time.time() + fake.offset, monotonic=lambda: time.monotonic() + fake.offset
    )
    monkeypatch.setattr(freshchat_rate_limit, "PACING_CLOCK", virtual_time)  # Freshchat's windows pace on the virtual clock
    return fake


# -- one run --------------------------------------------------------------------------------------
@dataclass
class Run:
    stream: str
    route: str
    emulator: FreshchatEmulator
    clock: FakeClock
    output: EntrypointOutput
    text: str  # everything the run wrote: messages (logs, traces, states, records), stdout and stderr
    notes: dict = field(default_factory=dict)  # what a fault's setup wants to tell its checks

    @property
    def records(self) -> List[Mapping[str, Any]]:
        return [message.record.data for message in self.output.records if message.record.stream == self.stream]

    def truth(self) -> List[Mapping[str, Any]]:
        return reachable_records(self.emulator, self.stream)

    @property
    def errors(self):
        return [message.trace.error for message in self.output.errors]

    def stream_errors(self):
        return [error for error in self.errors if error.stream_descriptor and error.stream_descriptor.name == self.stream]

    def logs(self, *levels: str) -> List[str]:
        return [message.log.message for message in self.output.logs if not levels or message.log.level.value in levels]

    def log_entries(self, statuses=None) -> List[tuple]:
        """(path, query, status) of each request on this run's route, in order; status None: the connection was reset."""
        entries = [(path, query, status) for _, path, query, status, _ in self.emulator.request_log if matches(self.route, path)]
        return [entry for entry in entries if statuses is None or entry[2] in statuses]

    def tries_per_request(self, statuses) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for path, query, status in self.log_entries(statuses):
            key = f"{path}?{json.dumps(query, sort_keys=True)}"
            counts[key] = counts.get(key, 0) + 1
        return counts


def route_prefix(route: str) -> str:
    return route.split(" ", 1)[1].split("{id}")[0]


def matches(route: str, path: str) -> bool:
    template = emulator_server.Route.of(route, lambda *args: None)
    return bool(template.pattern.fullmatch(f"GET {path}"))


def small_emulator(api_key: str) -> FreshchatEmulator:
    return FreshchatEmulator(seed=5, users=3, conversations_per_user=2, messages_per_conversation=3, api_key=api_key)


def read_stream(emulator: FreshchatEmulator, stream: str, capfd, **config: Any) -> Tuple[EntrypointOutput, str]:
    catalog = CatalogBuilder().with_stream(stream, SyncMode.full_refresh).build()
    output = read(
        SourceFreshchat(), emulator.config(**{"num_workers": NUM_WORKERS, **config}), catalog, expected_outcome=ExpectedOutcome.ALLOW_ANY
    )
    captured = capfd.readouterr()
    messages = "\n".join(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode() for message in output._messages)
    return output, "\n".join((messages, captured.out, captured.err))


def assert_key_never_shown(run: Run) -> None:
    assert run.emulator.api_key not in run.text, "the API key appears in the connector's output"


# -- faults ---------------------------------------------------------------------------------------
Setup = Callable[[FreshchatEmulator, str, str, dict], Optional[dict]]  # (emulator, stream, route, notes) -> extra config
Proof = Callable[[Run], None]


@dataclass(frozen=True)
class Fault:
    setup: Setup
    proof: Proof  # asserts that the fault was really served
    targets: Sequence[str] = tuple(TARGETS)
    read_timeout: Optional[float] = None  # the connector's read timeout in this case; None: the connector's own


def scripted(*faults: Any, **behaviour: Any) -> Setup:
    def setup(emulator, stream, route, notes):
        for name, value in behaviour.items():
            setattr(emulator.behaviour, name, value)
        emulator.inject(route, list(faults))

    return setup


def served_statuses(*statuses: int) -> Proof:
    """Each scripted error status was answered, and each cost exactly one retry."""

    def proof(run: Run) -> None:
        for status in set(statuses):
            assert run.emulator.status_counts[status] == statuses.count(status), run.emulator.status_counts
        assert run.clock.retries == len(statuses), run.clock.retry_waits

    return proof


def honoured_the_announced_wait(run: Run) -> None:
    served_statuses(429, 429, 429, 429)(run)
    # Retry-After (or, without it, X-RateLimit-Reset) announced RETRY_AFTER seconds: the wait follows it.
    assert min(run.clock.retry_waits) >= RETRY_AFTER - 1, run.clock.retry_waits


def served_resets(count: int) -> Proof:
    def proof(run: Run) -> None:
        unanswered = [entry for entry in run.log_entries() if entry[2] is None]
        assert len(unanswered) == count
        assert run.clock.retries == count, run.clock.retry_waits

    return proof


def retried(count: int) -> Proof:
    """For faults answered with 200 (HTML, cut-off JSON, empty body): the retries prove them."""

    def proof(run: Run) -> None:
        assert run.clock.retries == count, run.clock.retry_waits
        assert run.emulator.request_counts[run.route] >= count + 1

    return proof


def timed_out_and_retried(run: Run) -> None:
    """The hung request was given up on and sent again; on a busy machine an ordinary one may time out and be retried too."""
    assert run.clock.retries >= 1, run.clock.retry_waits
    timeout = f"ReadTimeout calling GET {route_prefix(run.route)}"
    assert any(timeout in line for line in run.logs()), f"no {timeout!r} in the logs"
    assert run.emulator.request_counts[run.route] >= 2  # counted on arrival: the hung request is never answered in time


def random_faults(emulator, stream, route, notes):
    """Seeded random 500/502/503 and connection resets on every route, until RANDOM_FAULT_CAP were served."""
    emulator.behaviour.error_rate, emulator.behaviour.reset_rate = 0.5, 0.2
    lock = threading.Lock()

    def cap(route_template, path, query):
        with lock:
            served = [entry for entry in emulator.request_log if entry[3] in (500, 502, 503, None)]
            if len(served) >= RANDOM_FAULT_CAP:
                emulator.behaviour.error_rate = emulator.behaviour.reset_rate = 0.0

    emulator.on_request(cap)


def served_random_faults(run: Run) -> None:
    faults = [entry for entry in run.emulator.request_log if entry[3] in (500, 502, 503, None)]
    assert faults, "no random fault was served"
    assert run.clock.retries == len(faults), (run.clock.retry_waits, faults)


def remaining_hits_zero(emulator, stream, route, notes):
    """The first response on the route says X-RateLimit-Remaining: 0 (another tool drained the window); then the window refills.

    The connector runs with one worker here, so which response drains the window is deterministic.
    """
    state = {"drained_at": None}

    def drain(route_template, path, query):
        requests_so_far = sum(emulator.request_counts.values())  # one fixed window since the first request
        if state["drained_at"] is None and route_template == route:
            state["drained_at"] = requests_so_far
            notes["drained"], notes["drained_at"] = (path, query), requests_so_far
            emulator.behaviour.rate_limit = requests_so_far  # this request is the window's last: Remaining 0
        elif state["drained_at"] is not None:
            emulator.behaviour.rate_limit = None  # the window reset while the connector waited

    emulator.on_request(drain)
    return {"num_workers": 1}


def paced_by_remaining(run: Run) -> None:
    path, query = run.notes["drained"]
    assert (path, query, 200) in run.log_entries(), "the response with X-RateLimit-Remaining: 0 was not served"
    assert run.emulator.status_counts[429] == 0
    if sum(run.emulator.request_counts.values()) > run.notes["drained_at"]:
        # X-RateLimit-Reset announced the end of a one-minute window: the next request waited for it instead of meeting a 429.
        assert run.clock.budget_waits and max(run.clock.budget_waits) >= 10, run.clock.budget_waits


def _clone(record: dict, key: str) -> dict:
    return {**record, key: str(uuid.uuid4())}


def page_past_end(emulator, stream, route, notes):
    """Records vanish while the connector pages: the page its link promised is now past the end and answers 404 WRONG_PAGE."""
    emulator.behaviour.page_past_end = "404"
    data = emulator.data
    if stream == "users":
        for _ in range(51 - len(data.users)):
            data.add_user()

        def shrink():
            for user_id in list(data.users)[50:]:
                data.delete_user(user_id)

    elif stream == "messages":
        conversation_id = next(iter(data.conversations))
        for _ in range(51 - len(data.messages[conversation_id])):
            data.add_message(conversation_id)

        def shrink():
            with data.lock:
                thread = data.messages[conversation_id]
                del thread[: len(thread) - 50]  # the oldest go: page 2 of a newest-first listing is now empty

    else:
        records = getattr(data, stream)  # the emulator keeps each directory stream in a list of that name
        with data.lock:
            records.extend(_clone(records[index % len(records)], primary_key(stream)) for index in range(max(0, 51 - len(records))))

        def shrink():
            with data.lock:
                del records[50:]

    done = []

    def on_request(route_template, path, query):
        if route_template == route and query.get("page") == "2" and not done:
            done.append(path)
            shrink()

    emulator.on_request(on_request)


def served_wrong_page(run: Run) -> None:
    wrong_pages = run.log_entries({404})
    assert len(wrong_pages) == 1 and wrong_pages[0][1].get("page") == "2", wrong_pages
    assert run.clock.retries == 0, "a page past the end is the end of paging, not an error to retry"


def deleted_after_listing(emulator, stream, route, notes):
    """The first user or conversation fetched was deleted after it was listed: its fetch answers 404."""
    data = emulator.data

    def delete(route_template, path, query):
        if route_template != route or "deleted" in notes:
            return
        item_id = path.split("/")[3]
        if route == "GET /v2/users/{id}/conversations":
            data.delete_user(item_id)
        else:
            data.delete_conversation(item_id, keep_in_listing=True)
        notes["deleted"] = path

    emulator.on_request(delete)


def skipped_and_logged(run: Run) -> None:
    deleted = run.notes["deleted"]
    assert [status for path, _, status in run.log_entries() if path == deleted] == [404], "the deleted item's fetch did not answer 404"
    assert any("404" in line and deleted in line for line in run.logs("WARN")), "the skip was not logged as a warning"


SURVIVABLE: Dict[str, Fault] = {
    "429-storm-with-retry-after": Fault(
        scripted(429, 429, 429, 429, retry_after=True, injected_retry_after_seconds=RETRY_AFTER), honoured_the_announced_wait
    ),
    "429-storm-without-retry-after": Fault(
        scripted(429, 429, 429, 429, retry_after=False, injected_retry_after_seconds=RETRY_AFTER), honoured_the_announced_wait
    ),
    "ratelimit-remaining-0": Fault(remaining_hits_zero, paced_by_remaining),
    "500": Fault(scripted(500, 500), served_statuses(500, 500)),
    "502": Fault(scripted(502, 502), served_statuses(502, 502)),
    "503": Fault(scripted(503, 503), served_statuses(503, 503)),
    "5xx-mix": Fault(scripted(500, 502, 503, 500, 503), served_statuses(500, 502, 503, 500, 503)),
    "connection-reset": Fault(scripted("reset", "reset"), served_resets(2)),
    "random-5xx-and-resets": Fault(random_faults, served_random_faults),
    "html-200": Fault(scripted("html", "html"), retried(2)),
    "truncated-json-200": Fault(scripted("truncated", "truncated"), retried(2)),
    "empty-200": Fault(scripted("empty_200"), retried(1)),
    "hang": Fault(scripted("hang", hang_seconds=HANG_SECONDS), timed_out_and_retried, read_timeout=HUNG_READ_TIMEOUT),
    "page-past-end-404-wrong-page": Fault(page_past_end, served_wrong_page, PAGED_TARGETS),
    "deleted-between-listing-and-fetching": Fault(deleted_after_listing, skipped_and_logged, FAN_OUT_TARGETS),
}


def cases(faults: Mapping[str, Fault]):
    return [pytest.param(name, target, id=f"{name}-{target}") for name, fault in faults.items() for target in fault.targets]


def run_case(fault: Fault, target: str, clock: FakeClock, capfd) -> Run:
    stream, route = TARGETS[target]
    api_key = f"fc-{uuid.uuid4().hex}-secret"  # unique per case: a leak cannot hide behind another case's masking
    with small_emulator(api_key) as emulator:
        notes: dict = {}
        config = fault.setup(emulator, stream, route, notes) or {}
        output, text = read_stream(emulator, stream, capfd, **config)
        emulator.clear_callbacks()
        return Run(stream, route, emulator, clock, output, text, notes)


@pytest.mark.parametrize("fault_name, target", cases(SURVIVABLE))
def test_survives_with_zero_lost_records(fault_name, target, clock, capfd, monkeypatch):
    fault = SURVIVABLE[fault_name]
    if fault.read_timeout is not None:
        monkeypatch.setattr(freshchat_base, "READ_TIMEOUT_SECONDS", fault.read_timeout)
    run = run_case(fault, target, clock, capfd)

    assert not run.errors, [error.message for error in run.errors]
    keys = [record[primary_key(run.stream)] for record in run.records]
    assert len(keys) == len(set(keys)), f"{run.stream}: duplicated records"
    assert by_key(run.records, run.stream) == by_key(run.truth(), run.stream), f"{run.stream}: records differ from the emulator's data"
    assert run.output.get_stream_statuses(run.stream)[-1] == AirbyteStreamStatus.COMPLETE
    fault.proof(run)
    assert_key_never_shown(run)
    assert "Response Content" not in run.text, "a response body (customer data) appears in the logs"


# -- loud failures --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoudFault:
    faults: Sequence[Any]
    failure_types: Sequence[FailureType]
    mentions: Sequence[str]  # fragments the error message must hold; "{path}" stands for the route's path, e.g. /v2/agents
    max_tries_per_request: int
    targets: Sequence[str] = tuple(TARGETS)


def path_of(route: str) -> str:
    return route_prefix(route).rstrip("/")


LOUD: Dict[str, LoudFault] = {
    "401-during-read": LoudFault([401] * 40, [FailureType.config_error], ("401", "api_key", "API Tokens"), max_tries_per_request=1),
    "403-during-read": LoudFault([403] * 40, [FailureType.config_error], ("403", "domain", "scope", "{path}"), max_tries_per_request=1),
    **{
        f"retries-exhausted-{name}": LoudFault(
            [fault] * 60,
            [FailureType.transient_error, FailureType.system_error],
            (*mentions, "{path}"),
            max_tries_per_request=MAX_RETRIES + 1,
        )
        for name, fault, mentions in (
            ("500", 500, ("500",)),
            ("503", 503, ("503",)),
            ("429", 429, ("429",)),
            ("connection-reset", "reset", ("Connection",)),
            ("html-200", "html", ("200", "not JSON")),
        )
    },
    "response-shape-changed": LoudFault(["wrong_shape"] * 40, [FailureType.system_error], ("{path}", "changed"), max_tries_per_request=1),
}


@pytest.mark.parametrize("fault_name, target", cases(LOUD))
def test_fails_loudly(fault_name, target, clock, capfd):
    fault = LOUD[fault_name]
    run = run_case(Fault(scripted(*fault.faults), lambda run: None), target, clock, capfd)
    path = path_of(run.route)

    errors = run.stream_errors()
    assert errors, f"no error trace for {run.stream}; records emitted: {len(run.records)}; errors: {[e.message for e in run.errors]}"
    error = errors[0]
    for fragment in (mention.format(path=path) for mention in fault.mentions):
        assert fragment in error.message, f"{fragment!r} missing from the error message: {error.message!r}"
    assert "Traceback" not in error.message
    assert error.failure_type in fault.failure_types, f"{error.failure_type} for: {error.message}"
    assert run.output.get_stream_statuses(run.stream)[-1] == AirbyteStreamStatus.INCOMPLETE
    # The sync as a whole fails (the CDK's closing error trace makes the process exit non-zero).
    assert any(e.stream_descriptor is None and run.stream in e.message for e in run.errors)

    faulted = run.tries_per_request(None)
    assert faulted, "the fault was not served"
    assert max(faulted.values()) == fault.max_tries_per_request, faulted
    if fault.max_tries_per_request == 1:  # no retry storm: each request once, and only the ones already in flight
        in_flight = NUM_WORKERS if target in FAN_OUT_TARGETS else 1
        assert len(faulted) <= in_flight, faulted
        assert run.clock.retries == 0, run.clock.retry_waits
    assert_key_never_shown(run)


# -- links to another host --------------------------------------------------------------------------
LINK_FORMS = {
    "absolute-other-host": lambda evil, path, query: f"{evil.url}{path}?{query}",
    "scheme-relative-other-host": lambda evil, path, query: f"//{evil.url.split('://', 1)[1]}{path}?{query}",
    "credentials-trick": lambda evil, path, query: f"http://127.0.0.1@{evil.url.split('://', 1)[1]}{path}?{query}",
}


@pytest.mark.parametrize("form", LINK_FORMS)
@pytest.mark.parametrize("target", ["users", "agents", "messages"])
def test_links_to_another_host_are_never_followed_with_the_key(target, form, clock, capfd, monkeypatch):
    stream, route = TARGETS[target]
    api_key = f"fc-{uuid.uuid4().hex}-secret"
    with small_emulator(api_key) as emulator, FreshchatEmulator(seed=6, users=1, api_key=api_key) as evil:
        data = emulator.data
        if stream == "users":
            for _ in range(51 - len(data.users)):
                data.add_user()
        if stream == "messages":
            conversation_id = next(iter(data.conversations))
            for _ in range(51 - len(data.messages[conversation_id])):
                data.add_message(conversation_id)

        from urllib.parse import urlencode

        def page_href(request, page_number, page_size):
            params = {"page": page_number, "items_per_page": page_size}
            params.update((name, value) for name, value in request.query.items() if name not in params)
            return LINK_FORMS[form](evil, request.path, urlencode(params))

        monkeypatch.setattr(emulator_server, "_page_href", page_href)
        output, text = read_stream(emulator, stream, capfd)
        run = Run(stream, route, emulator, clock, output, text)

        assert emulator.request_counts[route] >= 1
        carrying_key = [entry for entry in evil.request_log if any(api_key in str(value) for value in entry[4].values())]
        assert not carrying_key, f"the API key was sent to another host: {carrying_key}"
        if not run.stream_errors():  # following only the link's path on the configured host would be fine too
            assert by_key(run.records, stream) == by_key(run.truth(), stream)
        assert_key_never_shown(run)


# -- debug logs of the real entry point ---------------------------------------------------------------
def test_debug_logs_of_the_installed_entry_point_mask_the_key(tmp_path):
    """`--debug` logs every request with its headers: the Authorization header must come out masked."""
    api_key = f"fc-{uuid.uuid4().hex}-secret"
    with small_emulator(api_key) as emulator:
        emulator.inject("GET /v2/roles", [401])
        catalog = {
            "streams": [
                {
                    "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "append",
                }
                for name in ("account", "roles")
            ]
        }
        (tmp_path / "config.json").write_text(json.dumps(emulator.config()))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        completed = subprocess.run(
            [str(CONNECTOR), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json"), "--debug"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert completed.returncode != 0
    assert "Bearer ****" in completed.stdout, "the debug logs no longer show request headers: this test would prove nothing"
    assert '"failure_type":"config_error"' in completed.stdout
    assert api_key not in completed.stdout and api_key not in completed.stderr
