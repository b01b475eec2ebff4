"""Benchmark: full syncs of the installed connector against the bundled emulator, side by side.

    python -m tools.benchmark                  # --quick: about 2-4 minutes on 2 cores
    python -m tools.benchmark --full           # 100, 1,000, 5,000 users x 0/50 ms x rate limit, soak
    python -m tools.benchmark --sizes 1000 --latencies 50 --workers default,1 --rate-limits none
    python -m tools.benchmark --only readings  # pace and 429s in each reading of Freshchat's rate windows
    make benchmark ARGS="--full"

Every sync runs as Airbyte runs it: the emulator in one process (a small launcher of ours around
`FreshchatEmulator`, so faults such as --error-rate can be set and its request counters read back
through a pipe), the `source-freshchat` console script in another, and this process only waits.
For each scenario it prints records (checked id by id against the same deterministic `Dataset`
built here), requests issued against the least a full sync can cost (README, Speed and rate limits), 429s and 5xx
received, wall time, records per second, the connector's CPU time and peak RSS, and the speed-up
of the default concurrency over concurrency 1. It also reports the requests of an incremental
sync after a small change next to those of the full sync before it, and (with --soak or --full)
a soak run with random server errors and a tight rate limit, where records lost must be 0. With
--readings (or --full) it syncs under each reading of Freshchat's rate windows its documentation leaves
open (windows opening at the first request or on the clock, the reset rounded up or down; whole or
not; another client spending a fifth) and prints 429s, limit use and unused clock windows for each.

It prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlencode

from integration_tests.emulator import Dataset
from integration_tests.harness import CONNECTOR, STREAMS, configured_catalog, primary_key
from source_freshchat.config import DEFAULT_NUM_WORKERS

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "benchmark-key"
PAGE = 50  # the API's largest page: every list, and messages
SEED = 7
CONVERSATIONS_PER_USER = 2
MESSAGES_PER_CONVERSATION = 10
RUN_TIMEOUT_SECONDS = 3600.0
WAIT_POLL_SECONDS = 0.005
STARTUP_IMPORTS_SHOWN = 4
# How the CDK ends its log line of a retried error ("Caught retryable error ... then retrying..."); 429s say "Retrying in".
RETRY_LOG_ENDINGS = ("then retrying...",)
POOL_FULL = "Connection pool is full"

RATE_LIMIT = (500, 5.0)  # 100 requests a second, in 5-second windows: below what the default concurrency reaches at 0 and 50 ms
# The full matrix, also the values of dimensions a command line leaves out when it names others.
FULL = dict(sizes=[100, 1000, 5000], latencies=[0.0, 50.0], rate_limits=[None, RATE_LIMIT], workers=[None, 1])
# --quick (the default): every kind of row once, about 2-4 minutes on 2 cores. Sequential runs at
# 50 ms cost ~55 ms a request (about 5 minutes at 1,000 users), so quick mode has them at 100 users only.
QUICK = (
    (100, 0.0, None, None),
    (100, 0.0, None, 1),
    (100, 50.0, None, None),
    (100, 50.0, None, 1),
    (100, 0.0, RATE_LIMIT, None),
    (100, 50.0, RATE_LIMIT, None),
    (1000, 0.0, None, None),
    (1000, 0.0, None, 1),
    (1000, 50.0, None, None),
)
INCREMENTAL_USERS = 1000
INCREMENTAL_UPDATED_USER_FRACTION = 0.01
INCREMENTAL_NEW_MESSAGES = 5
SOAK = dict(users=1000, error_rate=0.10, rate_limit=(150, 10.0), latency_ms=0.0)  # 15 requests a second
# --readings: a full sync of several windows in each reading of Freshchat's windows (README, Speed and rate limits), as
# (opens, rounding, spent by another client per window, window seconds less): whole-second windows, windows half a second
# shorter, and another client spending a fifth of each. `--readings-rate-limit 1500/30 --readings-users 600` is issue 23's sync.
READINGS = tuple((opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down"))
READING_SYNC = dict(users=300, latency_ms=20.0, rate_limit=(500, 5.0))  # 1,520 requests: three windows and a part


# -- the truth -------------------------------------------------------------------------------
def pages(count: int) -> int:
    """Requests to read a list of `count` items 50 at a time; an empty list still costs its one request."""
    return max(1, math.ceil(count / PAGE))


def listed_conversations(data: Dataset) -> List[str]:
    """Conversations the API lets a sync reach (through some user's listing), each once, in listing order."""
    seen: Dict[str, None] = {}
    for conversation_ids in data.user_conversations.values():
        for conversation_id in conversation_ids:
            if conversation_id in data.conversations:
                seen.setdefault(conversation_id)
    return list(seen)


def minimum_requests(data: Dataset) -> Dict[str, int]:
    """The least a full sync can cost, per route (the formula in the README's Speed and rate limits):
    1 (account) + ceil(U/50) + U + C + sum(ceil(M_c/50)) + list pages, where a conversation without
    messages still costs one messages request, and conversation fields are one unpaged request.
    """
    conversations = listed_conversations(data)
    return {
        "GET /v2/accounts/configuration": 1,
        "GET /v2/users": pages(len(data.users)),
        "GET /v2/users/{id}/conversations": len(data.users),
        "GET /v2/conversations/{id}": len(conversations),
        "GET /v2/conversations/{id}/messages": sum(pages(len(data.messages[c])) for c in conversations),
        "GET /v2/conversations/fields": 1,
        "GET /v2/agents": pages(len(data.agents)),
        "GET /v2/groups": pages(len(data.groups)),
        "GET /v2/channels": pages(len(data.channels)),
        "GET /v2/roles": pages(len(data.roles)),
        "GET /v2/outbound-messages": pages(len(data.outbound_messages)),
    }


def expected_ids(data: Dataset) -> Dict[str, List]:
    """Primary keys of every record a complete sync must emit, per stream."""
    reachable = set(listed_conversations(data))
    ids = {stream: [record[primary_key(stream)] for record in data.records(stream)] for stream in STREAMS}
    ids["conversations"] = [c for c in ids["conversations"] if c in reachable]
    ids["messages"] = [m["id"] for c in data.conversations if c in reachable for m in data.messages[c]]
    return ids


_DATASETS: Dict[Tuple[int, int, int, int], Dataset] = {}


def dataset(scenario: "Scenario") -> Dataset:
    """The emulator's data, rebuilt here from the same seed and sizes (it is deterministic)."""
    key = (scenario.seed, scenario.users, scenario.conversations_per_user, scenario.messages_per_conversation)
    if key not in _DATASETS:
        _DATASETS.clear()  # one at a time: a 5,000-user dataset is a few hundred MB
        _DATASETS[key] = Dataset(*key)
    return _DATASETS[key]


# -- the emulator, in a process of its own ---------------------------------------------------
def serve_emulator(argv: Optional[Sequence[str]] = None) -> None:
    """The launcher's child side: serves until stdin closes; answers one JSON line per command line.

    Commands: `counts` (requests per route, responses per status, connections accepted, when the
    first and the last request came, this process's CPU seconds), `reset` (zero the counters and let
    any rate window run out), `paths` (every request's path and query since the last reset, for a
    bare client to fetch again), `mutate <json>` (a small change for the incremental scenario;
    answers the ids it touched).
    """
    from integration_tests.emulator import Behaviour, FreshchatEmulator

    spec = json.loads((argv or sys.argv)[1])
    behaviour = Behaviour(**spec.pop("behaviour"))
    emulator = FreshchatEmulator(**spec, behaviour=behaviour, host="127.0.0.1", port=0).start()
    arrivals: List[float] = []
    emulator.on_request(lambda *_: arrivals.append(time.time()))
    print(json.dumps({"url": emulator.url, "ca_bundle": emulator.ca_bundle}), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "counts":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            answer = {
                "requests": dict(emulator.request_counts),
                "statuses": {str(status): count for status, count in emulator.status_counts.items()},
                "unanswered": sum(1 for entry in emulator.request_log if entry[3] is None),
                "connections": emulator.connections_opened,
                "rate_in_full_windows": rate_in_full_windows(arrivals, behaviour.rate_limit_window_seconds),
                "unused_clock_windows": unused_clock_windows(arrivals, behaviour.rate_limit_window_seconds),
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            }
        elif command == "paths":
            answer = {"paths": [path + ("?" + urlencode(query) if query else "") for _, path, query, _, _ in emulator.request_log]}
        elif command == "reset":
            emulator.reset_counters()
            arrivals.clear()
            if behaviour.rate_limit is not None:  # the next request then opens a fresh window
                time.sleep(behaviour.rate_limit_window_seconds)
            answer = {}
        elif command == "mutate":
            answer = _mutate(emulator.data, **json.loads(argument))
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)
    emulator.stop()


def rate_in_full_windows(arrivals: Sequence[float], window_seconds: float) -> Optional[float]:
    """Requests per second from the first request to the opening of the last rate window, None within one window.

    Windows are counted as the emulator counts them: one opens at the first request after the last one
    ended. Time between windows, when the client waits longer than it needs to, counts against it.
    """
    openings = []
    for moment in arrivals:
        if not openings or moment >= openings[-1] + window_seconds:
            openings.append(moment)
    if len(openings) < 2:
        return None
    return sum(1 for moment in arrivals if moment < openings[-1]) / (openings[-1] - openings[0])


def unused_clock_windows(arrivals: Sequence[float], window_seconds: float) -> int:
    """Windows on the clock's multiples of their length, between the first request and the last, that no request came in."""
    if not arrivals:
        return 0
    used = {math.floor(moment / window_seconds) for moment in arrivals}
    return max(used) - min(used) + 1 - len(used)


def _mutate(data: Dataset, updated_user_fraction: float, new_messages: int) -> dict:
    """Updates every (1/fraction)-th user and adds one message to each of `new_messages` conversations spread over the account."""
    user_ids = list(data.users)
    step = max(1, round(1 / updated_user_fraction))
    users = [data.update_user(user_id, last_name="Benchmark-Updated")["id"] for user_id in user_ids[::step]]
    conversation_ids = listed_conversations(data)
    spread = max(1, len(conversation_ids) // max(1, new_messages))
    touched = conversation_ids[::spread][:new_messages]
    messages = [data.add_message(conversation_id)["id"] for conversation_id in touched]
    return {"users": users, "conversations": touched, "messages": messages}


def bare_client(argv: Optional[Sequence[str]] = None) -> None:
    """The bare client's child side: fetches every path in a file with one requests.Session, one after the other.

    Prints the CPU seconds of the fetching alone (not of starting Python), as a JSON line.
    """
    import requests

    base_url, paths_file, ca_bundle = (argv or sys.argv)[1:4]
    paths = json.loads(Path(paths_file).read_text())
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"})
    session.verify = ca_bundle or True
    session.trust_env = False  # configured once, as the connector is
    started = time.process_time()
    for path in paths:
        session.get(base_url + path, timeout=60).json()
    print(json.dumps({"cpu_seconds": time.process_time() - started, "requests": len(paths)}), flush=True)


def bare_client_cpu_ms(emulator: "EmulatorProcess", workdir: Path) -> float:
    """CPU milliseconds per request of a bare requests.Session fetching the pages the last sync fetched, from the same emulator."""
    paths_file = workdir / "paths.json"
    paths_file.write_text(json.dumps(emulator.paths()))
    launch = "from tools.benchmark import bare_client; bare_client()"
    completed = subprocess.run(
        [sys.executable, "-c", launch, emulator.url, str(paths_file), emulator.ca_bundle or ""],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(completed.stdout.splitlines()[-1])
    return 1000 * answer["cpu_seconds"] / max(1, answer["requests"])


class EmulatorProcess:
    """Starts `serve_emulator` as a separate process and talks to it over its stdin and stdout."""

    def __init__(
        self,
        users: int,
        conversations_per_user: int,
        messages_per_conversation: int,
        seed: int = SEED,
        latency_ms: float = 0.0,
        rate_limit: Optional[Tuple[int, float]] = None,
        error_rate: float = 0.0,
        tls: bool = True,
        reading: Optional["Reading"] = None,
    ):
        behaviour = {"latency_ms": latency_ms, "error_rate": error_rate}
        if rate_limit:
            behaviour.update(rate_limit=rate_limit[0], rate_limit_window_seconds=rate_limit[1])
        if reading:
            behaviour.update(
                rate_limit_window_opens=reading.opens,
                rate_limit_reset_rounding=reading.rounding,
                rate_limit_spent_by_others=reading.spent_by_others,
            )
        spec = {
            "seed": seed,
            "users": users,
            "conversations_per_user": conversations_per_user,
            "messages_per_conversation": messages_per_conversation,
            "api_key": API_KEY,
            "behaviour": behaviour,
            "tls": tls,
        }
        launch = "from tools.benchmark import serve_emulator; serve_emulator()"
        self._process = subprocess.Popen(
            [sys.executable, "-c", launch, json.dumps(spec)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self._process.stdout.readline()
        if not first:
            self.close()
            raise RuntimeError(f"the emulator process exited with {self._process.returncode} before serving")
        started = json.loads(first)
        self.url = started["url"]
        self.ca_bundle: Optional[str] = started["ca_bundle"]

    @property
    def client_environment(self) -> Dict[str, str]:
        """The environment a client needs to trust this emulator: any requests-based client reads REQUESTS_CA_BUNDLE."""
        return {**os.environ, "REQUESTS_CA_BUNDLE": self.ca_bundle} if self.ca_bundle else dict(os.environ)

    def config(self, workers: Optional[int]) -> dict:
        config = {"domain": self.url, "api_key": API_KEY}
        if workers is not None:
            config["num_workers"] = workers
        return config

    def _ask(self, command: str) -> dict:
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def counts(self) -> dict:
        return self._ask("counts")

    def reset(self) -> None:
        self._ask("reset")

    def paths(self) -> List[str]:
        return self._ask("paths")["paths"]

    def mutate(self, updated_user_fraction: float, new_messages: int) -> dict:
        return self._ask("mutate " + json.dumps({"updated_user_fraction": updated_user_fraction, "new_messages": new_messages}))

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._process.stdout.close()

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# -- one connector run -----------------------------------------------------------------------
@dataclass
class Sync:
    returncode: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    ids: Dict[str, List]  # emitted primary keys per stream, in order, duplicates kept
    final_state: List[dict]
    errors: List[str]
    rate_limit_logs: int  # the connector's own "Rate limited" / "Paced" log lines
    retry_logs: int  # the CDK's retry log lines: one per retried response or exception
    stderr_tail: str
    pool_warnings: int  # urllib3's "Connection pool is full, discarding connection", in logs or stderr

    @property
    def records(self) -> int:
        return sum(len(ids) for ids in self.ids.values())


def run_sync(
    workdir: Path,
    config: Mapping,
    catalog: Mapping,
    state: Optional[List[dict]] = None,
    timeout: float = RUN_TIMEOUT_SECONDS,
    env: Optional[Mapping[str, str]] = None,
) -> Sync:
    """Runs `source-freshchat read` as Airbyte does and measures the process: wall time, CPU time, peak RSS.

    Its stdout goes to a file, parsed after it exits, so this process uses no CPU while it runs.
    """
    args = [str(CONNECTOR), "read"]
    for name, value in (("config", config), ("catalog", catalog), ("state", state)):
        if value is not None:
            path = workdir / f"{name}.json"
            path.write_text(json.dumps(value))
            args += [f"--{name}", str(path)]
    out_path, err_path = workdir / "stdout.jsonl", workdir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        status, usage, peak_rss_kb = _wait(process, started + timeout)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    sync = _parse_output(out_path)
    stderr = err_path.read_text(errors="replace")
    return Sync(
        returncode=process.returncode,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak_rss_kb / 1024,
        stderr_tail=stderr[-2000:],
        pool_warnings=sync.pop("pool_warnings") + stderr.count(POOL_FULL),
        **sync,
    )


def _wait(process: subprocess.Popen, deadline: float):
    """Reaps exactly this child with wait4, for its own rusage (RUSAGE_CHILDREN would mix in every earlier child).

    Also returns the child's peak RSS in kB. Not from rusage: on Linux a child's ru_maxrss starts from
    the RSS of the process that forked it (this one, which holds the whole expected dataset), so it
    comes from the child's own high-water mark in /proc, read while it runs.
    """
    peak_kb = 0
    while True:
        peak_kb = max(peak_kb, _high_water_rss_kb(process.pid))
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return status, usage, peak_kb or usage.ru_maxrss
        if time.perf_counter() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            return status, usage, peak_kb or usage.ru_maxrss
        time.sleep(WAIT_POLL_SECONDS)


def _high_water_rss_kb(pid: int) -> int:
    """VmHWM of a running process; 0 where /proc does not say (not Linux, or already exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _parse_output(path: Path) -> dict:
    ids: Dict[str, List] = {stream: [] for stream in STREAMS}
    states: Dict[str, dict] = {}
    errors: List[str] = []
    rate_limit_logs = retry_logs = pool_warnings = 0
    with open(path, "rb") as lines:
        for line in lines:
            if not line.startswith(b"{"):
                continue
            message = json.loads(line)
            kind = message.get("type")
            if kind == "RECORD":
                record = message["record"]
                ids.setdefault(record["stream"], []).append(record["data"].get(primary_key(record["stream"])))
            elif kind == "STATE" and "stream" in message["state"]:
                stream_state = message["state"]["stream"]
                states[stream_state["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": stream_state}
            elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
                errors.append(message["trace"]["error"]["message"])
            elif kind == "LOG":
                text = message["log"]["message"]
                if text.startswith(("Rate limited", "Paced")):
                    rate_limit_logs += 1
                pool_warnings += POOL_FULL in text
                if text.endswith(RETRY_LOG_ENDINGS) or "Retrying in" in text:
                    retry_logs += 1
                elif message["log"]["level"] in ("ERROR", "FATAL"):
                    errors.append(text[:300])
    return {
        "ids": ids,
        "final_state": list(states.values()),
        "errors": errors,
        "rate_limit_logs": rate_limit_logs,
        "retry_logs": retry_logs,
        "pool_warnings": pool_warnings,
    }


# -- scenarios -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """How the emulator counts its rate windows: when one opens, how its reset is rounded, what another client spends of each."""

    opens: str = "first_request"
    rounding: str = "up"
    spent_by_others: int = 0

    @property
    def label(self) -> str:
        return f"{self.opens}/{self.rounding}" + (f" others={self.spent_by_others}" if self.spent_by_others else "")


@dataclass(frozen=True)
class Scenario:
    users: int
    latency_ms: float = 0.0
    rate_limit: Optional[Tuple[int, float]] = None  # (requests, window seconds)
    workers: Optional[int] = None  # None: the connector's default
    error_rate: float = 0.0
    kind: str = "full"  # "full", "incremental" (after a full run and a small change) or "soak"
    conversations_per_user: int = CONVERSATIONS_PER_USER
    messages_per_conversation: int = MESSAGES_PER_CONVERSATION
    seed: int = SEED
    tls: bool = True  # as the real API; plain HTTP hides the handshakes of connections not reused
    reading: Optional[Reading] = None  # None: the emulator's default (windows open at the first request, reset rounded up)

    @property
    def environment(self) -> Tuple:
        """What the emulator process depends on: scenarios sharing it share one emulator."""
        return (
            self.users,
            self.conversations_per_user,
            self.messages_per_conversation,
            self.seed,
            self.latency_ms,
            self.rate_limit,
            self.error_rate,
            self.tls,
            self.reading,
        )

    @property
    def compares_with_bare_client(self) -> bool:
        """CPU is compared where nothing but CPU sets the pace: no latency, no limit, no faults."""
        return self.kind == "full" and not self.latency_ms and not self.rate_limit and not self.error_rate

    @property
    def label(self) -> str:
        parts = [self.kind, f"U={self.users:,}", f"{self.latency_ms:g}ms", rate_limit_text(self.rate_limit)]
        if self.error_rate:
            parts.append(f"err={self.error_rate:.0%}")
        if self.reading:
            parts.append(self.reading.label)
        return " ".join(parts)

    @property
    def workers_text(self) -> str:
        return f"{DEFAULT_NUM_WORKERS} (default)" if self.workers is None else str(self.workers)


def rate_limit_text(rate_limit: Optional[Tuple[int, float]]) -> str:
    return "no-limit" if rate_limit is None else f"{rate_limit[0]}/{rate_limit[1]:g}s"


@dataclass
class Result:
    scenario: Scenario
    sync: Sync
    expected: int  # records a complete sync emits (full runs), or the changes an incremental run must carry
    lost: int  # expected records (or changes) missing from the output
    extra: int  # emitted records that are not in the data (full runs)
    duplicates: int
    requests: int
    requests_by_route: Dict[str, int]
    minimum: Optional[int]  # None for incremental runs: the formula is for a full sync
    over_minimum: Dict[str, int]  # route -> requests above its minimum
    statuses: Dict[str, int]
    unanswered: int
    emulator_cpu_seconds: float
    connections: int  # TCP (over TLS, by default) connections the emulator accepted during the sync
    rate_in_full_windows: Optional[float]  # requests per second until the last rate window opened
    unused_clock_windows: int  # windows on the clock between the first request and the last that took none
    before: Optional["Result"] = None  # incremental runs: the full run whose state they start from
    speedup: Optional[float] = None
    bare_cpu_per_request_ms: Optional[float] = None  # a bare requests.Session fetching the same pages, one by one

    @property
    def limit_use(self) -> Optional[float]:
        """The request rate over the sync's full rate windows, as a share of the limit; None without a limit or a full window."""
        limit = self.scenario.rate_limit
        if not limit or self.rate_in_full_windows is None:
            return None
        others = self.scenario.reading.spent_by_others if self.scenario.reading else 0
        return self.rate_in_full_windows / ((limit[0] - others) / limit[1])

    def cpu_per_request_ms(self, startup_cpu_seconds: float) -> float:
        """The connector's CPU per request once started: its CPU time less what `spec` costs, over its requests."""
        return 1000 * max(0.0, self.sync.cpu_seconds - startup_cpu_seconds) / max(1, self.requests)

    @property
    def throttled(self) -> int:
        return self.statuses.get("429", 0)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status.startswith("5"))

    @property
    def retries(self) -> int:
        """Responses that had to be retried: everything but a 200 (the benchmark never deletes, so no 404 is tolerated)."""
        return self.requests - self.statuses.get("200", 0)

    @property
    def records_per_second(self) -> float:
        return self.sync.records / self.sync.wall_seconds if self.sync.wall_seconds else 0.0


def compare(emitted: Mapping[str, List], expected: Mapping[str, List]) -> Tuple[int, int, int]:
    """(lost, extra, duplicates) over all streams, by primary key."""
    lost = extra = duplicates = 0
    for stream in set(expected) | set(emitted):
        got, want = emitted.get(stream, []), expected.get(stream, [])
        got_set, want_set = set(got), set(want)
        lost += len(want_set - got_set)
        extra += len(got_set - want_set)
        duplicates += len(got) - len(got_set)
    return lost, extra, duplicates


def measure(
    emulator: EmulatorProcess,
    scenario: Scenario,
    catalog: Mapping,
    workdir: Path,
    data: Dataset,
    state: Optional[List[dict]] = None,
    changes: Optional[Mapping[str, List]] = None,
    before: Optional[Result] = None,
) -> Result:
    emulator.reset()
    cpu_before = emulator.counts()["cpu_seconds"]
    sync = run_sync(workdir, emulator.config(scenario.workers), catalog, state, env=emulator.client_environment)
    counts = emulator.counts()
    requests = Counter(counts["requests"])
    if changes is None:  # a full sync: every record, at the least cost
        want = expected_ids(data)
        minimum_by_route = minimum_requests(data)
        minimum = sum(minimum_by_route.values())
        over = {route: requests[route] - floor for route, floor in minimum_by_route.items() if requests[route] > floor}
        over.update({route: count for route, count in requests.items() if route not in minimum_by_route})
    else:  # an incremental sync: at least every change made since the full sync
        want = {stream: list(ids) for stream, ids in changes.items()}
        minimum, over = None, {}
    lost, extra, duplicates = compare(sync.ids if changes is None else {s: sync.ids.get(s, []) for s in want}, want)
    if changes is not None:
        extra = 0  # an incremental sync may re-emit records at its cursor: at-least-once
    return Result(
        scenario=scenario,
        sync=sync,
        expected=sum(len(ids) for ids in want.values()),
        lost=lost,
        extra=extra,
        duplicates=duplicates if changes is None else 0,
        requests=sum(requests.values()),
        requests_by_route=dict(requests),
        minimum=minimum,
        over_minimum=over,
        statuses=counts["statuses"],
        unanswered=counts["unanswered"],
        emulator_cpu_seconds=counts["cpu_seconds"] - cpu_before,
        connections=counts["connections"],
        rate_in_full_windows=counts["rate_in_full_windows"],
        unused_clock_windows=counts["unused_clock_windows"],
        before=before,
        bare_cpu_per_request_ms=bare_client_cpu_ms(emulator, workdir) if scenario.compares_with_bare_client else None,
    )


class Catalogs:
    """Discovered once (the catalog does not depend on the account) and reused by every run."""

    def __init__(self, workdir: Path):
        self._workdir = workdir
        self._cached: Dict[bool, Mapping] = {}

    def get(self, emulator: EmulatorProcess, incremental: bool = False) -> Mapping:
        if incremental not in self._cached:
            self._cached[incremental] = configured_catalog(self._workdir, emulator.config(None), STREAMS, incremental=incremental)
        return self._cached[incremental]


def run_matrix(scenarios: Sequence[Scenario], workdir: Path, report=print) -> List[Result]:
    """Runs full-sync scenarios, one emulator process per environment, and fills in the speed-ups."""
    results: List[Result] = []
    catalogs = Catalogs(workdir)
    environments: Dict[Tuple, List[Scenario]] = {}
    for scenario in scenarios:
        environments.setdefault(scenario.environment, []).append(scenario)
    for group in environments.values():
        first = group[0]
        data = dataset(first)
        with _emulator_for(first) as emulator:
            for scenario in group:
                result = measure(emulator, scenario, catalogs.get(emulator), workdir, data)
                results.append(result)
                report(progress_line(result))
    fill_speedups(results)
    return results


def run_incremental(
    users: int,
    workdir: Path,
    workers: Optional[int] = None,
    latency_ms: float = 0.0,
    fraction: float = INCREMENTAL_UPDATED_USER_FRACTION,
    new_messages: int = INCREMENTAL_NEW_MESSAGES,
    report=print,
    **shape: Any,
) -> List[Result]:
    """A first incremental sync (no state: everything), a small change, then a sync from the first one's state.

    `shape`: `conversations_per_user` and `messages_per_conversation`, as in `Scenario`.
    """
    full = Scenario(users, latency_ms=latency_ms, workers=workers, kind="incr-first", **shape)
    data = dataset(full)
    with _emulator_for(full) as emulator:
        catalog = Catalogs(workdir).get(emulator, incremental=True)
        first = measure(emulator, full, catalog, workdir, data)
        report(progress_line(first))
        changes = emulator.mutate(fraction, new_messages)
        second = measure(
            emulator,
            replace(full, kind="incremental"),
            catalog,
            workdir,
            data,
            state=first.sync.final_state,
            changes=changes,
            before=first,
        )
        report(progress_line(second))
    return [first, second]


def run_soak(
    users: int, error_rate: float, rate_limit: Tuple[int, float], workdir: Path, latency_ms: float = 0.0, report=print, **shape: Any
) -> Result:
    """`shape`: `conversations_per_user` and `messages_per_conversation`, as in `Scenario`."""
    scenario = Scenario(users, latency_ms=latency_ms, rate_limit=rate_limit, error_rate=error_rate, kind="soak", **shape)
    data = dataset(scenario)
    with _emulator_for(scenario) as emulator:
        result = measure(emulator, scenario, Catalogs(workdir).get(emulator), workdir, data)
    report(progress_line(result))
    return result


def reading_scenarios(users: int, latency_ms: float, rate_limit: Tuple[int, float], **shape: Any) -> List[Scenario]:
    """Each reading of Freshchat's windows with whole-second windows, with windows half a second shorter, and with another client."""
    limit, window = rate_limit
    variants = ((rate_limit, 0), ((limit, window - 0.5), 0), (rate_limit, limit // 5))
    return [
        Scenario(users, latency_ms=latency_ms, rate_limit=variant, reading=Reading(opens, rounding, others), kind="reading", **shape)
        for variant, others in variants
        for opens, rounding in READINGS
    ]


def run_readings(scenarios: Sequence[Scenario], workdir: Path, report=print) -> List[Result]:
    results: List[Result] = []
    catalogs = Catalogs(workdir)
    for scenario in scenarios:
        with _emulator_for(scenario) as emulator:
            results.append(measure(emulator, scenario, catalogs.get(emulator), workdir, dataset(scenario)))
        report(progress_line(results[-1]))
    return results


def readings_table(results: Sequence[Result]) -> str:
    """Pace and 429s per reading: pace (limit use) counts where windows open at a request, unused windows where they open on the clock."""
    rows = [("reading", "limit", "requests", "429s", "lost", "wall s", "limit use", "unused clock windows")]
    for result in results:
        on_clock = result.scenario.reading.opens == "clock"
        rows.append(
            (
                result.scenario.reading.label,
                rate_limit_text(result.scenario.rate_limit),
                f"{result.requests:,}",
                str(result.throttled),
                str(result.lost),
                f"{result.sync.wall_seconds:.1f}",
                f"{result.limit_use:.1%}" if result.limit_use is not None else "",
                str(result.unused_clock_windows) if on_clock else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows)


def _emulator_for(scenario: Scenario) -> EmulatorProcess:
    return EmulatorProcess(
        scenario.users,
        scenario.conversations_per_user,
        scenario.messages_per_conversation,
        seed=scenario.seed,
        latency_ms=scenario.latency_ms,
        rate_limit=scenario.rate_limit,
        error_rate=scenario.error_rate,
        tls=scenario.tls,
        reading=scenario.reading,
    )


def fill_speedups(results: Iterable[Result]) -> None:
    """speed-up = wall time at concurrency 1 / wall time of this run, for runs sharing everything but workers."""
    results = list(results)
    sequential = {r.scenario.environment: r for r in results if r.scenario.workers == 1 and r.scenario.kind == "full"}
    for result in results:
        baseline = sequential.get(result.scenario.environment)
        if baseline and result.scenario.kind == "full" and result.sync.wall_seconds:
            result.speedup = baseline.sync.wall_seconds / result.sync.wall_seconds


# -- output ----------------------------------------------------------------------------------
COLUMNS = (
    "scenario",
    "workers",
    "records",
    "lost",
    "requests",
    "minimum",
    "over",
    "429s",
    "5xx",
    "retries",
    "wall s",
    "rec/s",
    "cpu s",
    "emu cpu s",
    "cpu ms/req",
    "conns",
    "limit use",
    "rss MB",
    "speed-up",
)


def row(result: Result, startup_cpu_seconds: Optional[float] = None) -> List[str]:
    """The table's cells; CPU per request only once the start-up's CPU is known, to leave it out."""
    s = result.sync
    if result.minimum is not None:
        minimum, over = f"{result.minimum:,}", f"{(result.requests - result.minimum) / result.minimum:+.1%}"
    else:
        minimum, over = "-", f"{result.requests / result.before.requests:.0%} of full" if result.before else "-"
    records = f"{s.records:,}" + (
        "" if result.minimum is None or (s.records == result.expected and not result.duplicates) else f" (want {result.expected:,})"
    )
    status = "" if s.returncode == 0 and not s.errors else f" EXIT {s.returncode}, {len(s.errors)} errors"
    return [
        result.scenario.label + status,
        result.scenario.workers_text,
        records,
        str(result.lost),
        f"{result.requests:,}",
        minimum,
        over,
        str(result.throttled),
        str(result.server_errors),
        str(result.retries),
        f"{s.wall_seconds:.1f}",
        f"{result.records_per_second:,.0f}",
        f"{s.cpu_seconds:.1f}",
        f"{result.emulator_cpu_seconds:.1f}",
        "" if startup_cpu_seconds is None else f"{result.cpu_per_request_ms(startup_cpu_seconds):.2f}",
        str(result.connections),
        f"{result.limit_use:.1%}" if result.limit_use is not None else "",
        f"{s.peak_rss_mb:.0f}",
        f"{result.speedup:.1f}x" if result.speedup else "",
    ]


def table(results: Sequence[Result], startup_cpu_seconds: float = 0.0) -> str:
    rows = [list(COLUMNS)] + [row(result, startup_cpu_seconds) for result in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def progress_line(result: Result) -> str:
    return "  ".join(f"{name}={value}" for name, value in zip(COLUMNS, row(result)) if value)


def notes(results: Sequence[Result], startup_cpu_seconds: float = 0.0) -> List[str]:
    """What a reader should look at: requests above the minimum by route, errors, lost records, CPU against a bare client."""
    lines = []
    for result in results:
        where = f"{result.scenario.label} workers={result.scenario.workers_text}"
        if result.bare_cpu_per_request_ms:
            connector = result.cpu_per_request_ms(startup_cpu_seconds)
            lines.append(
                f"{where}: CPU per request {connector:.2f} ms against {result.bare_cpu_per_request_ms:.2f} ms for a bare "
                f"requests.Session fetching the same pages ({connector / result.bare_cpu_per_request_ms:.2f}x)"
            )
        if result.sync.pool_warnings:
            lines.append(f"{where}: {result.sync.pool_warnings} 'Connection pool is full' warnings")
        if result.over_minimum:
            detail = ", ".join(f"{route} +{count}" for route, count in sorted(result.over_minimum.items()))
            lines.append(f"{where}: requests above the minimum: {detail}")
        if result.unanswered:
            lines.append(f"{where}: {result.unanswered} requests closed unanswered")
        if result.sync.returncode or result.sync.errors:
            lines.append(
                f"{where}: exit {result.sync.returncode}; errors: {result.sync.errors[:3]}; stderr: {result.sync.stderr_tail[-300:]!r}"
            )
        if result.lost or result.extra or result.duplicates:
            lines.append(f"{where}: records lost {result.lost}, not in the data {result.extra}, duplicated {result.duplicates}")
        if result.before:
            lines.append(
                f"{where}: {result.requests:,} requests vs {result.before.requests:,} for the full sync before it "
                f"({route_summary(result.requests_by_route, result.before.requests_by_route)}); "
                f"changes carried {result.expected - result.lost}/{result.expected}; records emitted {result.sync.records:,}"
            )
        if result.scenario.kind == "soak":
            lines.append(
                f"{where}: retries {result.retries} (connector logged {result.sync.retry_logs}), 429s {result.throttled}, "
                f"5xx {result.server_errors}, duration {result.sync.wall_seconds:.1f}s, records lost {result.lost}, "
                f"rate-limit waits logged {result.sync.rate_limit_logs}"
            )
    return lines


def route_summary(requests: Mapping[str, int], before: Optional[Mapping[str, int]]) -> str:
    """`users 1/20, ...`: this run's requests per route over those of the run before."""
    before = before or {}
    return ", ".join(f"{route.removeprefix('GET /v2/')} {count:,}/{before.get(route, 0):,}" for route, count in sorted(requests.items()))


# -- command line ----------------------------------------------------------------------------
def parse_numbers(text: str, kind=int) -> List:
    return [kind(part.replace("_", "").replace(",", "")) for part in text.split(",") if part.strip()]


def parse_workers(text: str) -> List[Optional[int]]:
    return [None if part.strip() == "default" else int(part) for part in text.split(",") if part.strip()]


def parse_rate_limits(text: str) -> List[Optional[Tuple[int, float]]]:
    """`none,100/1`: no limit, then 100 requests per 1-second window."""
    limits: List[Optional[Tuple[int, float]]] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "none":
            limits.append(None)
        else:
            count, _, window = part.partition("/")
            limits.append((int(count), float(window or 60)))
    return limits


def build_matrix(
    sizes: Sequence[int],
    latencies: Sequence[float],
    rate_limits: Sequence,
    workers: Sequence[Optional[int]],
    conversations_per_user: int = CONVERSATIONS_PER_USER,
    messages_per_conversation: int = MESSAGES_PER_CONVERSATION,
    tls: bool = True,
) -> List[Scenario]:
    """Every combination, smallest account first."""
    return [
        Scenario(
            users,
            latency,
            rate_limit,
            worker_count,
            conversations_per_user=conversations_per_user,
            messages_per_conversation=messages_per_conversation,
            tls=tls,
        )
        for users in sizes
        for latency in latencies
        for rate_limit in rate_limits
        for worker_count in workers
    ]


def quick_matrix(
    conversations_per_user: int = CONVERSATIONS_PER_USER, messages_per_conversation: int = MESSAGES_PER_CONVERSATION, tls: bool = True
) -> List[Scenario]:
    return [
        scenario
        for users, latency, rate_limit, worker_count in QUICK
        for scenario in build_matrix(
            [users], [latency], [rate_limit], [worker_count], conversations_per_user, messages_per_conversation, tls
        )
    ]


@dataclass
class Startup:
    spec_seconds: float  # wall time of `spec`, fastest of a few runs
    spec_cpu_seconds: float
    check_seconds: float  # wall time of `check` against the emulator, fastest of a few runs
    check_cpu_seconds: float
    imports: List[Tuple[str, float]]  # modules by the seconds importing each takes (without its own imports), slowest first

    def text(self) -> str:
        imports = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.imports[:STARTUP_IMPORTS_SHOWN])
        return (
            f"start-up: spec {self.spec_seconds:.2f}s ({self.spec_cpu_seconds:.2f}s CPU), check {self.check_seconds:.2f}s "
            f"({self.check_cpu_seconds:.2f}s CPU); the slowest imports: {imports}"
        )


def _timed_run(args: Sequence[str], env: Optional[Mapping[str, str]] = None) -> Tuple[float, float]:
    """Wall and CPU seconds of one run of a command."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    status, usage, _ = _wait(process, started + RUN_TIMEOUT_SECONDS)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{args} exited with {os.waitstatus_to_exitcode(status)}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def import_times() -> List[Tuple[str, float]]:
    """Seconds each module takes to import itself (without its imports) when the entry point loads, slowest first."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import source_freshchat.run"], capture_output=True, text=True, check=True
    )
    own_times = []
    for line in completed.stderr.splitlines():
        own, _, name = line.partition(":")[2].split("|") if line.count("|") == 2 else ("", "", "")
        if own.strip().isdigit():
            own_times.append((name.strip(), int(own) / 1e6))
    return sorted(own_times, key=lambda entry: -entry[1])


def measure_startup(workdir: Path, tries: int = 3) -> Startup:
    """`spec` and `check` as Airbyte runs them (check against a tiny emulator over TLS), and where importing goes."""
    spec = min((_timed_run([str(CONNECTOR), "spec"]) for _ in range(tries)), key=lambda timing: timing[0])
    with EmulatorProcess(1, 1, 1) as emulator:
        config_path = workdir / "check-config.json"
        config_path.write_text(json.dumps(emulator.config(None)))
        check_args = [str(CONNECTOR), "check", "--config", str(config_path)]
        check = min((_timed_run(check_args, emulator.client_environment) for _ in range(tries)), key=lambda timing: timing[0])
    return Startup(spec[0], spec[1], check[0], check[1], import_times())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.benchmark",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="the default: 100 and 1,000 users; sequential runs at 50 ms and rate-limited runs at 100 users only",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="every combination of 100, 1,000, 5,000 users x 0, 50 ms x no limit, %d/%gs x default, 1 worker; "
        "then the incremental and the soak scenario" % RATE_LIMIT,
    )
    parser.add_argument(
        "--sizes", help="users per account, e.g. 100,1000,5000 (naming any of these four runs their product, the others taken from --full)"
    )
    parser.add_argument("--latencies", help="ms the emulator adds to every request, e.g. 0,50")
    parser.add_argument("--rate-limits", help="`none` or REQUESTS/WINDOW_SECONDS, e.g. none,500/5")
    parser.add_argument("--workers", help="num_workers values; `default` leaves it to the connector, e.g. default,1")
    parser.add_argument("--conversations-per-user", type=int, default=CONVERSATIONS_PER_USER)
    parser.add_argument("--messages-per-conversation", type=int, default=MESSAGES_PER_CONVERSATION)
    parser.add_argument("--incremental-users", type=int, default=INCREMENTAL_USERS, help="0 skips the incremental scenario")
    parser.add_argument("--soak", action="store_true", help="also run the soak scenario (always with --full)")
    parser.add_argument(
        "--readings", action="store_true", help="also sync in each reading of Freshchat's rate windows (always with --full)"
    )
    parser.add_argument("--readings-users", type=int, default=READING_SYNC["users"])
    parser.add_argument("--readings-latency", type=float, default=READING_SYNC["latency_ms"])
    parser.add_argument("--readings-rate-limit", default="%d/%g" % READING_SYNC["rate_limit"], help="REQUESTS/WINDOW_SECONDS")
    parser.add_argument("--only", help="run only these parts: matrix, incremental, soak, readings (comma-separated), e.g. --only readings")
    parser.add_argument("--soak-users", type=int, default=SOAK["users"])
    parser.add_argument("--soak-error-rate", type=float, default=SOAK["error_rate"], help="share of requests answered 500/502/503")
    parser.add_argument("--soak-rate-limit", default="%d/%g" % SOAK["rate_limit"], help="REQUESTS/WINDOW_SECONDS")
    parser.add_argument("--soak-latency", type=float, default=SOAK["latency_ms"])
    parser.add_argument("--plain-http", action="store_true", help="serve plain HTTP instead of TLS (as the real API serves)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (configs, catalogs, the last run's output)")
    return parser.parse_args(argv)


def shape_of(args: argparse.Namespace) -> Dict[str, Any]:
    """The account's shape, and how it is served, that every part of one benchmark run uses."""
    return {
        "conversations_per_user": args.conversations_per_user,
        "messages_per_conversation": args.messages_per_conversation,
        "tls": not args.plain_http,
    }


def scenarios_of(args: argparse.Namespace) -> List[Scenario]:
    shape = shape_of(args)
    if not args.full and all(value is None for value in (args.sizes, args.latencies, args.rate_limits, args.workers)):
        return quick_matrix(**shape)
    return build_matrix(
        parse_numbers(args.sizes) if args.sizes else FULL["sizes"],
        parse_numbers(args.latencies, float) if args.latencies else FULL["latencies"],
        parse_rate_limits(args.rate_limits) if args.rate_limits else FULL["rate_limits"],
        parse_workers(args.workers) if args.workers else FULL["workers"],
        **shape,
    )


def main(argv: Optional[Sequence[str]] = None) -> List[Result]:
    args = parse_args(argv)
    extra = [part for part, wanted in (("soak", args.soak), ("readings", args.readings)) if wanted or args.full]
    parts = set(args.only.split(",")) if args.only else {"matrix", "incremental", *extra}
    unknown = parts - {"matrix", "incremental", "soak", "readings"}
    if unknown:
        raise SystemExit(f"--only takes matrix, incremental, soak and readings, not {', '.join(sorted(unknown))}")
    scenarios = scenarios_of(args) if "matrix" in parts else []
    workdir = Path(tempfile.mkdtemp(prefix="freshchat-benchmark-"))
    startup = measure_startup(workdir)
    print(f"{len(scenarios)} full-sync scenarios on {os.cpu_count()} CPUs; connector {CONNECTOR}; work dir {workdir}", flush=True)
    print(startup.text(), flush=True)
    started = time.perf_counter()
    report = lambda line: print(line, flush=True)  # noqa: E731
    results = run_matrix(scenarios, workdir, report)
    if args.incremental_users and "incremental" in parts:
        results += run_incremental(args.incremental_users, workdir, report=report, **shape_of(args))
    if "soak" in parts:
        results.append(
            run_soak(
                args.soak_users,
                args.soak_error_rate,
                parse_rate_limits(args.soak_rate_limit)[0],
                workdir,
                latency_ms=args.soak_latency,
                report=report,
                **shape_of(args),
            )
        )
    readings = []
    if "readings" in parts:
        limit = parse_rate_limits(args.readings_rate_limit)[0]
        readings = run_readings(reading_scenarios(args.readings_users, args.readings_latency, limit, **shape_of(args)), workdir, report)
        results += readings
    print(
        f"\nFreshchat connector benchmark: {time.perf_counter() - started:.0f}s on {os.cpu_count()} CPUs; "
        f"{args.conversations_per_user} conversations per user, {args.messages_per_conversation} messages per conversation.\n"
        f"Each sync is a separate `source-freshchat read` process against an emulator process over "
        f"{'plain HTTP' if args.plain_http else 'TLS'}; wall time includes the connector's start-up ({startup.spec_seconds:.1f}s, "
        f"`spec`). cpu ms/req leaves out the start-up's CPU ({startup.spec_cpu_seconds:.2f}s). conns: connections the emulator "
        f"accepted. limit use: requests per second over the full rate windows (the time between them included), as a share of the limit. "
        f"speed-up = wall time at concurrency 1 / this run's.\n"
    )
    print(startup.text())
    print(table(results, startup.spec_cpu_seconds))
    for line in notes(results, startup.spec_cpu_seconds):
        print("- " + line)
    if readings:
        print(
            "\nIn each reading of Freshchat's rate windows (limit use: our requests per second over the full windows, as a share of "
            "what the windows left us; above 100% on the clock, whose first window is partial):"
        )
        print(readings_table(readings))
    if args.keep:
        print(f"Kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
