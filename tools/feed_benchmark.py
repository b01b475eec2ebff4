"""Benchmark: an incremental sync by the walk and by the change feed, side by side, after about 1% changed.

    python -m tools.feed_benchmark  # 1,000 and 10,000 users
    python -m tools.feed_benchmark --sizes 1000 --rate-limit 500/5
    make benchmark-feed ARGS="--sizes 1000"

For each account size: a first (walking) sync of users, conversations and messages; then about 1% of the
conversations change (new user and agent messages, resolutions, assignments, new conversations) and 0.1% get a
property-only edit; then the same incremental sync runs twice from the same state, once with
`conversation_discovery=walk` and once with `extract`, under the emulator's rate limit. It prints requests by kind,
wall time, records, and the changes each missed (property-only edits are expected to wait for the feed's next full
walk). The emulator runs in this process; the connector is the installed console script, as Airbyte runs it.

It prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from integration_tests.emulator import Behaviour, FreshchatEmulator
from integration_tests.harness import configured_catalog, run_connector

STREAMS = ["users", "conversations", "messages"]
KINDS = (
    ("users pages", "GET /v2/users"),
    ("conversation lists", "GET /v2/users/{id}/conversations"),
    ("details", "GET /v2/conversations/{id}"),
    ("message pages", "GET /v2/conversations/{id}/messages"),
    ("report jobs", "POST /v2/reports/raw"),
    ("polls", "GET /v2/reports/raw/{id}"),
    ("downloads", "GET storage"),
)
CHANGED_SHARE = 0.01
PROPERTY_ONLY_SHARE = 0.001


def change_account(emulator: FreshchatEmulator) -> Tuple[set, set]:
    """About 1% of conversations change in ways events show, 0.1% by a property edit alone."""
    data = emulator.data
    conversations = list(data.conversations)
    count = max(5, int(len(conversations) * CHANGED_SHARE))
    step = len(conversations) // count
    visible = set()
    for index, conversation_id in enumerate(conversations[::step][:count]):
        kind = index % 5
        if kind == 0:
            data.add_message(conversation_id, actor_type="user")
        elif kind == 1:
            data.add_message(conversation_id, actor_type="agent")
        elif kind == 2:
            data.resolve_conversation(conversation_id)
        elif kind == 3:
            data.assign_conversation(conversation_id, agent_id=data.agents[index % len(data.agents)]["id"])
        else:
            new = data.add_conversation(next(iter(data.users)))
            data.add_message(new["conversation_id"], actor_type="user")
            conversation_id = new["conversation_id"]
        visible.add(conversation_id)
    hidden = set()
    for conversation_id in conversations[step // 2 :: max(1, int(1 / PROPERTY_ONLY_SHARE))]:
        if conversation_id not in visible:
            data.update_conversation(conversation_id, properties={"priority": "edited-alone"})
            hidden.add(conversation_id)
    return visible, hidden


def sync(emulator, workdir: Path, config, catalog, state) -> Dict[str, object]:
    emulator.reset_counters()
    started = time.monotonic()
    run = run_connector(workdir, "read", config, catalog, state=state)
    wall = time.monotonic() - started
    counts = dict(emulator.request_counts)
    return {
        "run": run,
        "wall": wall,
        "counts": {label: counts.get(route, 0) for label, route in KINDS},
        "api": sum(count for route, count in counts.items() if route != "GET storage"),
        "records": sum(len(run.records(stream)) for stream in STREAMS),
        "status_429": emulator.status_counts.get(429, 0),
    }


def measure(users: int, rate_limit: Optional[Tuple[int, float]], workdir: Path) -> List[str]:
    behaviour = Behaviour(report_pending_polls=1)
    with FreshchatEmulator(
        seed=7, users=users, conversations_per_user=2, messages_per_conversation=3, recent=True, behaviour=behaviour
    ) as emulator:
        config = emulator.config()
        catalog = configured_catalog(workdir, config, STREAMS, incremental=True)
        started = time.monotonic()
        first = run_connector(workdir, "read", config, catalog)
        if first.returncode != 0 or first.errors():
            raise SystemExit(f"the first sync failed: {first.errors() or first.stderr[-2000:]}")
        print(f"  {users:,} users: first sync (walk) {time.monotonic() - started:.1f}s")
        visible, hidden = change_account(emulator)
        if rate_limit:
            behaviour.rate_limit, behaviour.rate_limit_window_seconds = rate_limit
        rows = []
        for mode in ("walk", "extract"):
            result = sync(emulator, workdir, {**config, "conversation_discovery": mode}, catalog, first.final_state())
            run = result["run"]
            if run.errors():
                raise SystemExit(f"the {mode} sync failed: {run.errors()}")
            seen = {record["conversation_id"] for record in run.records("conversations")}
            rows.append(
                [f"{users:,}", mode]
                + [f"{result['counts'][label]:,}" for label, _ in KINDS]
                + [f"{result['api']:,}", f"{result['wall']:.1f}", f"{result['records']:,}", str(result["status_429"])]
                + [f"{len(visible - seen)} of {len(visible)}", f"{len(hidden - seen)} of {len(hidden)}"]
            )
        return rows


def table(rows: Sequence[Sequence[str]]) -> str:
    header = ["users", "mode", *(label for label, _ in KINDS), "API requests", "wall s", "records", "429s", "missed", "prop.-only missed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.feed_benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="users per account, e.g. 1000,10000")
    parser.add_argument("--rate-limit", default="500/5", help="`none` or REQUESTS/WINDOW_SECONDS for the incremental syncs")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rate_limit = None if args.rate_limit == "none" else (int(args.rate_limit.split("/")[0]), float(args.rate_limit.split("/")[1]))
    print(f"Incremental sync after ~{CHANGED_SHARE:.0%} of conversations changed: walk against change feed (rate limit {args.rate_limit})")
    rows: List[List[str]] = []
    with tempfile.TemporaryDirectory(prefix="feed-benchmark-") as workdir:
        for users in sizes:
            rows += measure(users, rate_limit, Path(workdir))
    print(table(rows))
    print("'missed': changed conversations (with events) absent from the sync; 'prop.-only missed': edits with no event,")
    print("which the feed leaves to its next full walk by design (README, Change feed).")


if __name__ == "__main__":
    main()
