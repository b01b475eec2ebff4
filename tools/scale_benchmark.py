"""Benchmark: one cycle of the rolling walk on a large emulated account; is every sync after the first bounded?

    python -m tools.scale_benchmark  # 20,000 users, a 1-day cycle, syncs 2 hours apart
    python -m tools.scale_benchmark --users 5000 --sync-hours 4
    make benchmark-scale ARGS="--users 5000"

A first sync of users, conversations and messages walks every user: what each `full_walk_interval_days` cost before the
rolling walk. Then property-only edits (no event shows them) are planted across the account, and the incremental syncs
of one rolling cycle run, each a simulated `--sync-hours` after the last: the state's moments are moved into the past,
so a cycle of `--interval-days` runs in minutes. Before each sync a few conversations change in ways events show. The
emulator's rate limit is scaled so that the full walk takes minutes. For each sync it prints requests by kind, wall
time, the connector's peak memory and the slice's size, against the issue's target: no sync after the first costs more
than the feed's share plus 2 x walk cost x sync interval / full_walk_interval_days. At the end: how many planted edits
the cycle emitted, the longest sync against the full walk, and both extrapolated to 100,000 users at 1,000 requests per
minute with hourly syncs and the default weekly interval. The emulator runs in this process; the connector is the
installed console script, as Airbyte runs it.

It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

from integration_tests.emulator import Behaviour, FreshchatEmulator
from integration_tests.harness import configured_catalog, later
from source_freshchat.config import DEFAULT_FULL_WALK_INTERVAL_DAYS

from .benchmark import run_sync

STREAMS = ["users", "conversations", "messages"]
KINDS = (
    ("conversation lists", "GET /v2/users/{id}/conversations"),
    ("details", "GET /v2/conversations/{id}"),
    ("message pages", "GET /v2/conversations/{id}/messages"),
    ("report jobs + polls", ("POST /v2/reports/raw", "GET /v2/reports/raw/{id}")),
)
REPORT_ROUTES = ("POST /v2/reports/raw", "GET /v2/reports/raw/{id}")
HIDDEN_SHARE = 0.001  # property-only edits planted before the cycle, spread over the users
EXTRAPOLATED_USERS = 100_000
EXTRAPOLATED_RATE = 1_000  # requests per minute
EXTRAPOLATED_CHANGED = 0.01  # of conversations changed per hourly sync, the example
SLICE_LINE = re.compile(r"rolling walk: users ([\d,]+)–([\d,]+) of")
FEED_LINE = re.compile(r"Change feed: (\d+) conversations changed")


@dataclass
class Measured:
    number: int
    api: int
    by_kind: List[int]
    users_pages: int  # the users stream's own pages (updated_from), not the slice's listing
    feed_conversations: int
    slice_users: int
    refused: int  # 429s among the requests
    wall: float
    cpu: float  # the connector's
    peak_rss_mb: float
    emitted: Set[str]

    @property
    def feed_share(self) -> int:
        """The feed's requests: its reports, the users stream, a detail and a message page per changed conversation."""
        return self.by_kind[3] + self.users_pages + 2 * self.feed_conversations

    @property
    def slice_cost(self) -> int:
        return self.api - self.feed_share


def sync(emulator, workdir: Path, config, catalog, state, number: int) -> Tuple[Measured, list]:
    emulator.reset_counters()
    run = run_sync(workdir, config, catalog, state)
    if run.returncode != 0 or run.errors:
        raise SystemExit(f"sync {number} failed: {run.errors or run.stderr_tail}")
    counts = dict(emulator.request_counts)
    logs = [message["log"]["message"] for message in map(json.loads, _lines(workdir / "stdout.jsonl")) if message.get("type") == "LOG"]
    slice_line = next((SLICE_LINE.search(line) for line in logs if SLICE_LINE.search(line)), None)
    feed_line = next((FEED_LINE.search(line) for line in logs if FEED_LINE.search(line)), None)
    by_kind = [sum(counts.get(route, 0) for route in ((routes,) if isinstance(routes, str) else routes)) for _, routes in KINDS]
    measured = Measured(
        number=number,
        api=sum(count for route, count in counts.items() if route != "GET storage"),
        by_kind=by_kind,
        users_pages=sum(1 for _, path, query, *_ in emulator.request_log if path == "/v2/users" and "updated_from" in query),
        feed_conversations=int(feed_line.group(1)) if feed_line else 0,
        slice_users=int(slice_line.group(2).replace(",", "")) - int(slice_line.group(1).replace(",", "")) + 1 if slice_line else 0,
        refused=emulator.status_counts.get(429, 0),
        wall=run.wall_seconds,
        cpu=run.cpu_seconds,
        peak_rss_mb=run.peak_rss_mb,
        emitted=set(run.ids.get("conversations", [])),
    )
    return measured, run.final_state


def _lines(path: Path):
    with open(path, "rb") as lines:
        yield from (line for line in lines if line.startswith(b"{"))


def plant_hidden_edits(emulator) -> Set[str]:
    """Property-only edits of conversations spread evenly over the users in created_time order: no event reports them."""
    data = emulator.data
    users = sorted(data.users, key=lambda user_id: data.users[user_id]["created_time"])
    count = max(20, int(len(data.conversations) * HIDDEN_SHARE))
    hidden = set()
    for user_id in users[:: max(1, len(users) // count)][:count]:
        conversation_id = data.user_conversations[user_id][0]
        data.update_conversation(conversation_id, properties={"priority": "edited-alone"})
        hidden.add(conversation_id)
    return hidden


def change_visibly(emulator, count: int, round_number: int) -> None:
    """`count` conversations change in ways the events show: user and agent messages, resolutions, assignments."""
    data = emulator.data
    conversations = list(data.conversations)
    step = max(1, len(conversations) // count)
    for index, conversation_id in enumerate(conversations[round_number % step :: step][:count]):
        kind = index % 4
        if kind < 2:
            data.add_message(conversation_id, actor_type="user" if kind == 0 else "agent")
        elif kind == 2:
            data.resolve_conversation(conversation_id)
        else:
            data.assign_conversation(conversation_id, agent_id=data.agents[index % len(data.agents)]["id"])


def rolling_cycle(state) -> int:
    states = {entry["stream"]["stream_descriptor"]["name"]: entry["stream"]["stream_state"] for entry in state}
    return states["conversations"]["discovery"]["rolling"]["cycle"]


def row(measured: Measured, bound: Optional[float]) -> List[str]:
    within = "" if bound is None else ("yes" if measured.api <= bound else "NO")
    return (
        [str(measured.number) if measured.number else "first (full walk)", f"{measured.slice_users:,}" if measured.number else "all"]
        + [f"{value:,}" for value in measured.by_kind]
        + [f"{measured.feed_share:,}" if measured.number else "", f"{measured.api:,}", "" if bound is None else f"{bound:,.0f}", within]
        + [f"{measured.refused:,}", f"{measured.wall:.1f}", f"{measured.peak_rss_mb:.0f}"]
    )


HEADER = [
    "sync",
    "slice users",
    *(label for label, _ in KINDS),
    "feed share",
    "API requests",
    "target",
    "within",
    "429s",
    "wall s",
    "rss MB",
]


def line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(rows: Sequence[Sequence[str]]) -> str:
    return "\n".join([line(HEADER), "|" + "---|" * len(HEADER), *map(line, rows)])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.scale_benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000, help="users in the account (one conversation each)")
    parser.add_argument("--interval-days", type=int, default=1, help="full_walk_interval_days: the length of a cycle")
    parser.add_argument("--sync-hours", type=float, default=2.0, help="simulated time between syncs")
    parser.add_argument("--changes", type=int, default=20, help="conversations changed visibly before each sync")
    parser.add_argument("--rate-limit", default="1500/5", help="`none` or REQUESTS/WINDOW_SECONDS of the emulator")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    interval, sync_interval = timedelta(days=args.interval_days), timedelta(hours=args.sync_hours)
    rate_limit = None if args.rate_limit == "none" else (int(args.rate_limit.split("/")[0]), float(args.rate_limit.split("/")[1]))
    print(
        f"One rolling cycle: {args.users:,} users, full_walk_interval_days={args.interval_days}, syncs {args.sync_hours:g} h apart "
        f"(simulated), rate limit {args.rate_limit}"
    )
    behaviour = Behaviour(report_pending_polls=0)
    with (
        tempfile.TemporaryDirectory(prefix="scale-benchmark-") as directory,
        FreshchatEmulator(
            seed=5, users=args.users, conversations_per_user=1, messages_per_conversation=2, recent=True, behaviour=behaviour
        ) as emulator,
    ):
        workdir = Path(directory)
        config = emulator.config(full_walk_interval_days=args.interval_days)
        catalog = configured_catalog(workdir, config, STREAMS, incremental=True)
        if rate_limit:
            behaviour.rate_limit, behaviour.rate_limit_window_seconds = rate_limit
        walk, state = sync(emulator, workdir, config, catalog, None, 0)
        rows = [row(walk, None)]
        print(table(rows), flush=True)
        hidden = plant_hidden_edits(emulator)
        cycle: List[Measured] = []
        for number in range(1, math.ceil(interval / sync_interval) + 3):
            change_visibly(emulator, args.changes, number)
            measured, state = sync(emulator, workdir, config, catalog, later(state, sync_interval), number)
            cycle.append(measured)
            rows.append(row(measured, measured.feed_share + 2 * walk.api * (sync_interval / interval)))
            print(line(rows[-1]), flush=True)
            if rolling_cycle(state) > 1:
                break
    print(table(rows))
    print(
        "'feed share': report traffic, the users stream's pages, and a detail and a message page per conversation the feed named; "
        "the rest is the slice's. Simulated time moves only the state, so each feed window also covers the earlier syncs' changes."
    )
    report(walk, cycle, hidden, sync_interval, interval)
    own = resource.getrusage(resource.RUSAGE_SELF)
    connector = sum(measured.cpu for measured in [walk, *cycle])
    print(f"CPU: the connector {connector:.0f} s, the emulator and this process {own.ru_utime + own.ru_stime:.0f} s")


def report(walk: Measured, cycle: List[Measured], hidden: Set[str], sync_interval: timedelta, interval: timedelta) -> None:
    caught = hidden & set().union(*(measured.emitted for measured in cycle))
    print(f"Property-only edits made before the cycle and emitted by its end: {len(caught)} of {len(hidden)} ({len(cycle)} syncs)")
    longest = max(cycle, key=lambda measured: measured.api)
    print(
        f"Longest sync after the first: {longest.api:,} requests, {longest.wall:.1f} s; the full walk it replaces: {walk.api:,} requests, "
        f"{walk.wall:.1f} s ({longest.api / walk.api:.1%} of its requests; target share 2 x {sync_interval / interval:.1%})"
    )
    users = sum(measured.slice_users for measured in cycle)
    per_walked_user = walk.api / max(users, 1)
    per_slice_user = sum(measured.slice_cost for measured in cycle) / max(users, 1)
    report_traffic = max(measured.by_kind[3] for measured in cycle)
    weekly = EXTRAPOLATED_USERS * per_walked_user
    slice_users = math.ceil(EXTRAPOLATED_USERS / (DEFAULT_FULL_WALK_INTERVAL_DAYS * 24))
    conversations = EXTRAPOLATED_USERS * len(walk.emitted) / max(users, 1)
    changed = conversations * EXTRAPOLATED_CHANGED
    feed = report_traffic + math.ceil(changed / 50) + 2 * changed
    hourly = feed + slice_users * per_slice_user
    print(
        f"At {EXTRAPOLATED_USERS:,} users and {EXTRAPOLATED_RATE:,} requests/min ({per_walked_user:.2f} requests per user walked, "
        f"{per_slice_user:.2f} per user of a slice, measured here):"
    )
    print(
        f"  the weekly full walk: ~{weekly:,.0f} requests, {weekly / EXTRAPOLATED_RATE / 60:.1f} hours; an hourly sync with the "
        f"rolling walk ({DEFAULT_FULL_WALK_INTERVAL_DAYS}-day cycle, {EXTRAPOLATED_CHANGED:.0%} of conversations changed): "
        f"~{hourly:,.0f} requests ({feed:,.0f} feed + {slice_users:,} users of slice), {hourly / EXTRAPOLATED_RATE:.1f} minutes, "
        "plus the wait for Freshchat's reports"
    )


if __name__ == "__main__":
    main()
