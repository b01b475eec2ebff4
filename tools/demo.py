"""One command from Freshchat to a DuckDB file you can query.

    python -m tools.demo                               # the bundled emulator, default size
    python -m tools.demo --users 2000 --seed 3         # a bigger emulated account
    python -m tools.demo --config secrets/config.json  # a real account

Runs the `source-freshchat` console script as Airbyte would (discover, then read every stream),
loads each stream into its own DuckDB table and prints records, seconds and requests per stream.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import duckdb

from integration_tests.emulator import Behaviour, FreshchatEmulator

CONNECTOR = Path(sys.executable).parent / "source-freshchat"
DEFAULT_DATABASE = Path("demo-output/freshchat.duckdb")
DEFAULT_USERS = 200
DEFAULT_CONVERSATIONS_PER_USER = 2
DEFAULT_MESSAGES_PER_CONVERSATION = 10
DEFAULT_SEED = 7
EMULATOR_API_KEY = "demo-key"
BATCH_ROWS = 1_000
PROGRESS_EVERY_SECONDS = 2.0
FORWARDED_LOG_LEVELS = ("WARN", "WARNING", "ERROR", "FATAL")
MAX_FORWARDED_CHARS = 240  # CDK error logs carry whole responses; the URL, status and error come first
STDERR_TAIL_CHARS = 2_000
EXAMPLE_QUERY = "select status, count(*) from conversations group by 1"
REAL_ACCOUNT_COMMAND = 'make demo ARGS="--config secrets/config.json"'

# The emulator routes whose requests serve each stream. The users walk is shared: its list pages
# count against users, the per-user listings and conversation details against conversations.
STREAM_ROUTES = {
    "account": ("GET /v2/accounts/configuration",),
    "users": ("GET /v2/users",),
    "conversations": ("GET /v2/users/{id}/conversations", "GET /v2/conversations/{id}"),
    "messages": ("GET /v2/conversations/{id}/messages",),
    "conversation_properties": ("GET /v2/conversations/fields",),
    "agents": ("GET /v2/agents",),
    "groups": ("GET /v2/groups",),
    "channels": ("GET /v2/channels",),
    "roles": ("GET /v2/roles",),
    "outbound_messages": ("GET /v2/outbound-messages",),
}
# The Extract API's routes serve every report stream at once (one job per event), so they are counted together.
REPORT_ROUTES = ("POST /v2/reports/raw", "GET /v2/reports/raw/{id}")
AGENT_PERFORMANCE_QUERY = """
with first_response as (
    select agent_id, median(value_in_seconds) as median_seconds, count(*) as conversations from first_response_time group by 1
), csat as (
    select agent_id, avg(value) as mean_score, count(*) as ratings from csat_score group by 1
)
select a.first_name || ' ' || a.last_name as agent, f.conversations, round(f.median_seconds) as median_first_response_s,
       round(c.mean_score, 2) as mean_csat, coalesce(c.ratings, 0) as csat_ratings
from first_response f join agents a on a.id = f.agent_id left join csat c using (agent_id)
order by f.conversations desc, agent limit 10
"""
# JSON-schema scalar types and their columns; objects, arrays and unions of types are stored as JSON.
SCALAR_COLUMN_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}


class ConnectorFailed(Exception):
    """The connector exited non-zero or reported an error; the message is the connector's own."""


# -- catalog -> tables -----------------------------------------------------------------------
def column_type(json_schema: dict) -> str:
    types = json_schema.get("type", [])
    non_null = [name for name in ([types] if isinstance(types, str) else types) if name != "null"]
    if len(non_null) != 1:
        return "JSON"
    if non_null[0] == "string" and json_schema.get("format") == "date-time":
        return "TIMESTAMPTZ"  # DuckDB parses Freshchat's "2025-07-10T19:47:55.442Z" (and offsets) exactly
    return SCALAR_COLUMN_TYPES.get(non_null[0], "JSON")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class StreamTable:
    name: str
    columns: dict  # column name -> DuckDB type, in the schema's order
    primary_key: tuple

    @classmethod
    def from_catalog(cls, stream: dict) -> "StreamTable":
        properties = stream["json_schema"]["properties"]
        return cls(
            name=stream["name"],
            columns={name: column_type(schema) for name, schema in properties.items()},
            # Every Freshchat key is a top-level field, so a key path's first element names its column.
            primary_key=tuple(path[0] for path in stream["source_defined_primary_key"]),
        )

    def create_sql(self) -> str:
        columns = [f"{quote_identifier(name)} {kind}" for name, kind in self.columns.items()]
        key = ", ".join(map(quote_identifier, self.primary_key))
        return f"CREATE OR REPLACE TABLE {quote_identifier(self.name)} ({', '.join(columns)}, PRIMARY KEY ({key}))"

    def key(self, record: dict) -> tuple:
        return tuple(record.get(name) for name in self.primary_key)

    def ndjson_line(self, record: dict) -> str:
        """The record's schema columns only: fields the schema does not declare get no column."""
        return json.dumps({name: record.get(name) for name in self.columns}) + "\n"


def configured_stream(stream: dict) -> dict:
    """Incremental where the stream supports it (with its own cursor), else full refresh."""
    if "incremental" in stream["supported_sync_modes"]:
        modes = {"sync_mode": "incremental", "destination_sync_mode": "append", "cursor_field": stream["default_cursor_field"]}
    else:
        modes = {"sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
    return {"stream": stream, "primary_key": stream["source_defined_primary_key"], **modes}


# -- loading ---------------------------------------------------------------------------------
class DuckDbLoader:
    """Loads records into one table per stream, BATCH_ROWS at a time through an NDJSON file.

    read_json over a file beats parameter binding by far (measured on 20,000 messages: 0.9 s,
    against 11 s for multi-row VALUES and 100 s for executemany). Rows land once per primary key:
    a record emitted again replaces the earlier one, in the batch (the dict) or in the table
    (INSERT OR REPLACE), as Airbyte's deduplicating destinations do.
    """

    def __init__(self, database: Path, tables: list[StreamTable], workdir: Path):
        database.parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(database))
        self._tables = {table.name: table for table in tables}
        self._pending: dict[str, dict] = {table.name: {} for table in tables}  # stream -> key -> NDJSON line
        self._batch_file = workdir / "batch.ndjson"
        for table in tables:
            self._connection.execute(table.create_sql())

    def add(self, stream: str, record: dict) -> None:
        table = self._tables[stream]
        pending = self._pending[stream]
        pending[table.key(record)] = table.ndjson_line(record)
        if len(pending) >= BATCH_ROWS:
            self._flush(table)

    def _flush(self, table: StreamTable) -> None:
        pending = self._pending[table.name]
        if not pending:
            return
        self._batch_file.write_text("".join(pending.values()), encoding="utf-8")
        self._connection.execute(
            f"INSERT OR REPLACE INTO {quote_identifier(table.name)} SELECT * FROM read_json(?, format = 'newline_delimited', columns = ?)",
            [str(self._batch_file), table.columns],
        )
        pending.clear()

    def flush(self) -> None:
        for table in self._tables.values():
            self._flush(table)

    def row_counts(self) -> dict:
        return {name: self._connection.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0] for name in self._tables}

    def close(self) -> None:
        self.flush()
        self._connection.close()


# -- progress --------------------------------------------------------------------------------
@dataclass
class StreamStats:
    records: int = 0
    first_at: Optional[float] = None
    last_at: Optional[float] = None

    def add(self, now: float) -> None:
        self.records += 1
        self.first_at = self.first_at if self.first_at is not None else now
        self.last_at = now

    @property
    def seconds(self) -> float:
        return self.last_at - self.first_at if self.records else 0.0


class Progress:
    """Counts records per stream and prints the running counts to stderr every PROGRESS_EVERY_SECONDS."""

    def __init__(self, streams: list[str]):
        self.stats = {name: StreamStats() for name in streams}
        self._started = self._reported = time.monotonic()

    def record(self, stream: str) -> None:
        now = time.monotonic()
        self.stats[stream].add(now)
        if now - self._reported >= PROGRESS_EVERY_SECONDS:
            self._reported = now
            counts = ", ".join(f"{name} {stats.records}" for name, stats in self.stats.items() if stats.records)
            print(f"  [{now - self._started:6.1f}s] {counts}", file=sys.stderr, flush=True)

    @property
    def seconds(self) -> float:
        """First record of the sync to its last."""
        started = [stats for stats in self.stats.values() if stats.records]
        return max(s.last_at for s in started) - min(s.first_at for s in started) if started else 0.0


# -- running the connector -------------------------------------------------------------------
def error_trace(message: dict) -> Optional[str]:
    """The message of an error trace, the connector's way of saying a stream or the sync failed."""
    if message.get("type") == "TRACE" and message["trace"]["type"] == "ERROR":
        return message["trace"]["error"]["message"]
    return None


def problem(message: dict) -> Optional[tuple[str, str]]:
    """(level, text) for a message the user should see: a WARN/ERROR log or an error trace."""
    if message.get("type") == "LOG" and message["log"]["level"] in FORWARDED_LOG_LEVELS:
        return message["log"]["level"], message["log"]["message"]
    error = error_trace(message)
    return ("ERROR", error) if error is not None else None


def forward(level: str, text: str) -> None:
    lines = text.strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= MAX_FORWARDED_CHARS else lines[0][:MAX_FORWARDED_CHARS] + "…"
    print(f"  connector {level}: {first}", file=sys.stderr, flush=True)


def connector_messages(*arguments: str) -> Iterator[dict]:
    """Runs source-freshchat and yields its protocol messages as they arrive, one stdout line at a time.

    Problems are forwarded to stderr once per text (every stream of a sync may fail the same way).
    Raises ConnectorFailed after a non-zero exit or an error trace, with the first error's message.
    """
    errors: list[str] = []
    forwarded: set = set()
    # The connector's stderr goes to a file, not a pipe nobody drains, and is shown only if it fails.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr_file:
        with subprocess.Popen(
            [str(CONNECTOR), *arguments], stdout=subprocess.PIPE, stderr=stderr_file, text=True, encoding="utf-8"
        ) as process:
            try:
                for line in process.stdout:
                    try:
                        message = json.loads(line)
                    except json.JSONDecodeError:
                        forward("output", line)  # not a protocol message: show it rather than drop it
                        continue
                    found = problem(message)
                    if found and found[1] not in forwarded:
                        forwarded.add(found[1])
                        forward(*found)
                    error = error_trace(message)
                    if error is not None:
                        errors.append(error)
                    yield message
            except BaseException:
                process.kill()  # a consumer that stops reading would leave it blocked on a full pipe
                raise
        if process.returncode or errors:
            stderr_file.seek(0)
            raise ConnectorFailed(failure_text(arguments[0], process.returncode, errors, stderr_file.read()))


def failure_text(command: str, exit_code: int, errors: list[str], stderr: str) -> str:
    distinct = list(dict.fromkeys(errors))
    if distinct:
        more = f" (and {len(distinct) - 1} other errors, shown above)" if len(distinct) > 1 else ""
        detail = distinct[0] + more
    else:
        detail = stderr[-STDERR_TAIL_CHARS:].strip() or "no error message"
    return f"source-freshchat {command} failed (exit code {exit_code}): {detail}"


def discover(config_path: Path, workdir: Path) -> tuple[list[StreamTable], Path]:
    """The stream tables and a configured catalog of every stream, written next to the config."""
    catalogs = [
        message["catalog"] for message in connector_messages("discover", "--config", str(config_path)) if message.get("type") == "CATALOG"
    ]
    if not catalogs:
        raise ConnectorFailed("source-freshchat discover printed no catalog")
    streams = catalogs[0]["streams"]
    catalog_path = workdir / "configured_catalog.json"
    catalog_path.write_text(json.dumps({"streams": [configured_stream(stream) for stream in streams]}))
    return [StreamTable.from_catalog(stream) for stream in streams], catalog_path


def sync(config_path: Path, catalog_path: Path, tables: list[StreamTable], database: Path, workdir: Path) -> tuple[Progress, dict]:
    """Reads every stream into the database; returns the progress counters and the tables' row counts."""
    progress = Progress([table.name for table in tables])
    loader = DuckDbLoader(database, tables, workdir)
    messages = connector_messages("read", "--config", str(config_path), "--catalog", str(catalog_path))
    try:
        with contextlib.closing(messages):  # on a loading error, stops the connector rather than leaving it blocked
            for message in messages:
                if message.get("type") == "RECORD":
                    stream, record = message["record"]["stream"], message["record"]["data"]
                    loader.add(stream, record)
                    progress.record(stream)
        loader.flush()
        return progress, loader.row_counts()
    finally:
        loader.close()  # flushes what arrived, so a failed sync still leaves its partial data to inspect


# -- where the data comes from ---------------------------------------------------------------
@contextlib.contextmanager
def connector_config(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Path, Optional[FreshchatEmulator]]]:
    """The given config file, or a config for the bundled emulator running for the duration."""
    if args.config:
        yield args.config, None
        return
    emulator = FreshchatEmulator(
        seed=args.seed,
        users=args.users,
        conversations_per_user=args.conversations_per_user,
        messages_per_conversation=args.messages_per_conversation,
        api_key=EMULATOR_API_KEY,
        recent=True,  # inside the Extract API's 15 months, so the report streams have rows
        behaviour=Behaviour(report_pending_polls=0),
    )
    with emulator:
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(emulator.config()))
        print(
            f"Freshchat emulator at {emulator.url}: {args.users} users x {args.conversations_per_user} conversations"
            f" x {args.messages_per_conversation} messages (seed {args.seed})",
            file=sys.stderr,
        )
        yield config_path, emulator


def requests_per_stream(emulator: Optional[FreshchatEmulator], streams: list[str]) -> tuple[dict, object]:
    """Requests behind each stream and in all, from the emulator's counters; "n/a" for a real account."""
    if emulator is None:
        return {name: "n/a" for name in streams}, "n/a"
    counts = emulator.request_counts
    per_stream = {name: sum(counts[route] for route in STREAM_ROUTES[name]) if name in STREAM_ROUTES else "shared" for name in streams}
    return per_stream, sum(count for route, count in counts.items() if route != "GET storage")


# -- report ----------------------------------------------------------------------------------
def print_report(progress: Progress, row_counts: dict, requests: tuple[dict, object], database: Path, wall_seconds: float) -> None:
    per_stream, total_requests = requests
    width = max(len("stream"), *(len(name) for name in progress.stats))
    row = f"{{:<{width}}} {{:>9}} {{:>8}} {{:>9}}"
    print(row.format("stream", "records", "seconds", "requests"))
    for name, stats in progress.stats.items():
        print(row.format(name, stats.records, f"{stats.seconds:.2f}", per_stream[name]))
    total_records = sum(stats.records for stats in progress.stats.values())
    print(row.format("total", total_records, f"{progress.seconds:.2f}", total_requests))
    replaced = total_records - sum(row_counts.values())
    if replaced:
        print(f"Note: {replaced} records repeated a primary key already emitted; each table keeps the last version.")
    if "shared" in per_stream.values():
        print("The report streams share their Extract API jobs (one per event); their requests are in the total.")
    print_agent_performance(database)
    print(f"\nWall time: {wall_seconds:.1f}s (discover, read and load)")
    print(f"DuckDB database: {database}")
    print(f"Try: {example_query_command(database)}")
    print(f"Real account: {REAL_ACCOUNT_COMMAND}  (config keys: domain, api_key, optional start_date)")


def print_agent_performance(database: Path) -> None:
    """One agent-performance question answered from the report streams, if the sync loaded them."""
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = {row[0] for row in connection.sql("select table_name from information_schema.tables").fetchall()}
        if not {"first_response_time", "csat_score", "agents"} <= tables:
            return
        print("\nAgent performance (median first response and CSAT per agent, top 10 by conversations):")
        connection.sql(AGENT_PERFORMANCE_QUERY).show()


def example_query_command(database: Path) -> str:
    if shutil.which("duckdb"):
        return f"duckdb {shlex.quote(str(database))} {shlex.quote(EXAMPLE_QUERY)}"
    # json.dumps gives double-quoted Python literals, so the shell's single quotes wrap the code cleanly.
    code = f"import duckdb; duckdb.connect({json.dumps(str(database))}, read_only=True).sql({json.dumps(EXAMPLE_QUERY)}).show()"
    return f"{shlex.quote(display_path(Path(sys.executable)))} -c {shlex.quote(code)}"


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it (e.g. .venv/bin/python), else as is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- entry point -----------------------------------------------------------------------------
def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        type=Path,
        help="a real account's config (domain, api_key, optional start_date); without it the bundled emulator is used",
    )
    parser.add_argument("--database", type=Path, default=DEFAULT_DATABASE, help=f"DuckDB file (default {DEFAULT_DATABASE})")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="emulator users")
    parser.add_argument("--conversations-per-user", type=int, default=DEFAULT_CONVERSATIONS_PER_USER)
    parser.add_argument("--messages-per-conversation", type=int, default=DEFAULT_MESSAGES_PER_CONVERSATION)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="emulator dataset seed")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="freshchat-demo-") as tmp, connector_config(args, Path(tmp)) as (config_path, emulator):
        workdir = Path(tmp)
        try:
            tables, catalog_path = discover(config_path, workdir)
            print(f"Reading {len(tables)} streams into {args.database} ...", file=sys.stderr, flush=True)
            progress, row_counts = sync(config_path, catalog_path, tables, args.database, workdir)
        except ConnectorFailed as failure:
            print(f"Demo failed: {failure}", file=sys.stderr)
            return 1
        requests = requests_per_stream(emulator, [table.name for table in tables])
    print_report(progress, row_counts, requests, args.database, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
