"""The one-command demo, end to end: emulator -> source-freshchat (a real subprocess) -> DuckDB."""

import contextlib
import io
import json
from datetime import datetime, timezone

import duckdb
import pytest

from integration_tests.emulator import Dataset, FreshchatEmulator, recent_start_ms
from integration_tests.emulator.data import STREAM_NAMES, ms_from_iso
from source_freshchat.config import format_timestamp
from source_freshchat.extract import reach_floor
from source_freshchat.streams.report_events import EVENTS
from tools import demo

# Small enough to keep the file fast, big enough for a second page of users and duplicate listings.
SIZE = {"seed": 11, "users": 12, "conversations_per_user": 2, "messages_per_conversation": 3}
PRIMARY_KEYS = {"account": "account_id", "conversations": "conversation_id", "outbound_messages": "message_id"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo run on the emulator: (exit code, printed report, database path)."""
    database = tmp_path_factory.mktemp("demo") / "freshchat.duckdb"
    argv = ["--database", str(database)] + [f"--{name.replace('_', '-')}={value}" for name, value in SIZE.items()]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exit_code = demo.main(argv)
    return exit_code, stdout.getvalue(), database


@pytest.fixture(scope="module")
def expected():
    """The emulator's dataset for SIZE: generated deterministically, so it equals what the demo served."""
    return Dataset(**SIZE, start_ms=recent_start_ms(), live_clock=True)


def report_rows(expected: Dataset, event: str) -> list:
    """The event's rows in the report streams' window of a sync now: the last 15 months."""
    now = datetime.now(timezone.utc)
    return expected.report_rows(event, format_timestamp(reach_floor(now)), format_timestamp(now))


@pytest.fixture
def db(demo_run):
    connection = duckdb.connect(str(demo_run[2]), read_only=True)
    yield connection
    connection.close()


def test_demo_succeeds(demo_run):
    assert demo_run[0] == 0


def test_every_stream_has_a_table_with_the_emulator_record_count(db, expected):
    tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == set(STREAM_NAMES) | {event.stream for event in EVENTS.values()}
    for stream in STREAM_NAMES:
        assert db.execute(f"SELECT count(*) FROM {stream}").fetchone()[0] == len(expected.records(stream)), stream
    for event in EVENTS.values():
        assert db.execute(f"SELECT count(*) FROM {event.stream}").fetchone()[0] == len(report_rows(expected, event.name)), event.stream


def test_primary_keys_are_unique_and_match_the_emulator(db, expected):
    for stream in STREAM_NAMES:
        key = PRIMARY_KEYS.get(stream, "id")
        total, distinct = db.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {stream}").fetchone()
        assert total == distinct, stream
        stored = {
            json.loads(value) if stream == "account" else value  # account_id may be int or string: JSON
            for (value,) in db.execute(f"SELECT {key} FROM {stream}").fetchall()
        }
        assert stored == {record[key] for record in expected.records(stream)}, stream


def test_timestamps_are_queryable_as_instants(db, expected):
    newest = db.execute("SELECT max(created_time) FROM messages").fetchone()[0]
    assert isinstance(newest, datetime)
    newest_expected = max(ms_from_iso(message["created_time"]) for message in expected.records("messages"))
    assert int(newest.timestamp() * 1000) == newest_expected
    recent = db.execute("SELECT count(*) FROM conversations WHERE updated_time >= TIMESTAMPTZ '2024-01-01'").fetchone()[0]
    assert recent == len(expected.records("conversations"))


def test_report_lists_each_stream_with_its_record_count(demo_run, expected):
    rows = {line.split()[0]: line.split()[1:] for line in demo_run[1].splitlines() if line.strip()}
    for stream in STREAM_NAMES:
        records, seconds, requests = rows[stream]
        assert int(records) == len(expected.records(stream))
        assert int(requests) >= 1
    report_records = sum(len(report_rows(expected, event.name)) for event in EVENTS.values())
    assert int(rows["total"][0]) == sum(len(expected.records(stream)) for stream in STREAM_NAMES) + report_records


def test_report_answers_an_agent_performance_question_from_the_report_streams(demo_run, expected):
    output = demo_run[1]
    assert "Agent performance (median first response and CSAT per agent" in output
    rows = report_rows(expected, "First-Response-Time")
    names = {agent["id"]: f"{agent['first_name']} {agent['last_name']}" for agent in expected.agents}
    counts = {agent_id: sum(1 for row in rows if row["agent_id"] == agent_id) for agent_id in {row["agent_id"] for row in rows}}
    busiest = min(counts, key=lambda agent_id: (-counts[agent_id], names[agent_id]))  # the query's own order
    agent = next(agent for agent in expected.agents if agent["id"] == busiest)
    assert f"{agent['first_name']} {agent['last_name']}" in output
    assert 'make demo ARGS="--config secrets/config.json"' in demo_run[1]


def test_records_emitted_twice_land_once_with_the_last_version(tmp_path):
    table = demo.StreamTable("users", {"id": "VARCHAR", "email": "VARCHAR", "updated_time": "TIMESTAMPTZ"}, ("id",))
    loader = demo.DuckDbLoader(tmp_path / "dedup.duckdb", [table], tmp_path)
    for n in range(demo.BATCH_ROWS):  # exactly one batch: flushed to the table
        loader.add("users", {"id": f"u{n}", "email": "first", "not_in_schema": 1})
    # u0 again across batches, then again within the pending batch.
    for record in ({"id": "u0", "email": "second"}, {"id": "u1", "email": "second"}, {"id": "u0", "email": "third"}):
        loader.add("users", record)
    loader.flush()
    assert loader.row_counts() == {"users": demo.BATCH_ROWS}
    loader.close()
    with duckdb.connect(str(tmp_path / "dedup.duckdb"), read_only=True) as connection:
        emails = dict(connection.execute("SELECT id, email FROM users WHERE id IN ('u0', 'u1', 'u2')").fetchall())
        assert emails == {"u0": "third", "u1": "second", "u2": "first"}
        assert [row[0] for row in connection.execute("DESCRIBE users").fetchall()] == ["id", "email", "updated_time"]


def test_connector_failure_exits_non_zero_with_its_message(tmp_path, capsys):
    with FreshchatEmulator(users=2) as emulator:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(emulator.config(api_key="not-the-key")))
        exit_code = demo.main(["--config", str(config), "--database", str(tmp_path / "failed.duckdb")])
    assert exit_code != 0
    failure = capsys.readouterr().err.splitlines()[-1]
    assert failure.startswith("Demo failed: source-freshchat read failed")
    assert "401" in failure
