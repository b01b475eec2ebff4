"""The 13 report streams end to end: every row of the emulator's events in the window, typed, and incremental."""

import json
from datetime import datetime, timezone

import pytest

from source_freshchat.config import format_timestamp
from source_freshchat.extract import reach_floor
from source_freshchat.streams.report_events import EVENTS

from .emulator import Behaviour, FreshchatEmulator
from .harness import configured_catalog, run_connector, wait_for_the_next_second

REPORT_STREAMS = {event.stream: event for event in EVENTS.values()}
NUMBER_COLUMNS = {"value", "value_in_seconds"}


def expected(row):
    """An emulator row as the stream must emit it, derived here from the row's text alone."""
    typed = {}
    for column, value in row.items():
        if value in ("", None):
            continue
        if column in NUMBER_COLUMNS:
            typed[column] = float(value)
        elif column == "message_parts":
            typed[column] = json.loads(value)
        else:
            typed[column] = value
    return typed


def comparable(record):
    return {
        column: float(value) if column in NUMBER_COLUMNS else value
        for column, value in record.items()
        if column != "event_id" and value is not None
    }


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


@pytest.fixture(scope="module")
def account():
    behaviour = Behaviour(report_pending_polls=1, report_link_hours=24 * 90, report_files_per_zip=2)
    with FreshchatEmulator(
        seed=23, users=40, conversations_per_user=2, messages_per_conversation=5, recent=True, behaviour=behaviour
    ) as emulator:
        yield emulator


def test_every_report_stream_reads_exactly_the_events_of_its_window_then_only_new_ones(account, tmp_path):
    config = account.config()
    catalog = configured_catalog(tmp_path, config, list(REPORT_STREAMS), incremental=True)
    account.reset_counters()
    started = datetime.now(timezone.utc)
    first = run_connector(tmp_path, "read", config, catalog)
    ended = datetime.now(timezone.utc)
    assert first.returncode == 0 and not first.errors(), first.stderr[-2000:]
    window_start = format_timestamp(reach_floor(started))
    for stream, event in REPORT_STREAMS.items():
        truth = [expected(row) for row in account.data.report_rows(event.name, window_start, format_timestamp(ended))]
        got = [comparable(record) for record in first.records(stream)]
        assert truth, f"the emulator has no {event.name} rows in the window: the comparison would prove nothing"
        assert canonical(got) == canonical(truth), stream
        key = event.natural_key or "event_id"
        assert len({record[key] for record in first.records(stream)}) == len(got), f"{stream} keys are not unique"
    assert account.request_counts["POST /v2/reports/raw"] == len(REPORT_STREAMS)  # one job per event

    data = account.data
    conversation = list(data.conversations)[0]
    data.add_message(conversation, actor_type="user")
    data.add_message(conversation, actor_type="agent")
    data.resolve_conversation(conversation, label="Billing", csat=5)
    data.set_agent_status(data.agents[0]["id"], "UNAVAILABLE")
    wait_for_the_next_second()
    second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
    assert second.returncode == 0 and not second.errors()
    since = format_timestamp(ended)
    for stream, event in REPORT_STREAMS.items():
        new_rows = [expected(row) for row in data.report_rows(event.name, since, format_timestamp(datetime.now(timezone.utc)))]
        assert canonical(comparable(r) for r in second.records(stream)) == canonical(new_rows), stream


def test_title_style_headers_and_plain_csv_read_the_same_rows(account, tmp_path):
    config = account.config()
    catalog = configured_catalog(tmp_path, config, ["csat_score", "chat_transcript"])
    account.behaviour.report_header_style, account.behaviour.report_payload = "title", "csv"
    try:
        run = run_connector(tmp_path, "read", config, catalog)
    finally:
        account.behaviour.report_header_style, account.behaviour.report_payload = "snake", "zip"
    assert run.returncode == 0 and not run.errors()
    transcript = run.records("chat_transcript")
    assert transcript and all(isinstance(record.get("message_parts"), list) for record in transcript)
    assert all(record["created_time"].endswith("Z") for record in transcript)
    scores = run.records("csat_score")
    assert scores and all(isinstance(record["value"], (int, float)) for record in scores)


def test_a_refused_event_leaves_its_stream_empty_with_a_warning(account, tmp_path):
    config = account.config()
    catalog = configured_catalog(tmp_path, config, ["chat_transcript", "csat_score"])
    account.behaviour.refused_events = {"Chat-Transcript"}
    try:
        run = run_connector(tmp_path, "read", config, catalog)
    finally:
        account.behaviour.refused_events = set()
    assert run.returncode == 0 and not run.errors()
    assert run.records("chat_transcript") == [] and run.records("csat_score")
    assert any("The chat_transcript stream is empty this sync" in line for line in run.logs("WARN"))
