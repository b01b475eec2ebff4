"""The report streams: one per Extract API event, typed by schema, windowed, checkpointed per downloaded link."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from airbyte_cdk.models import SyncMode

from source_freshchat import SourceFreshchat
from source_freshchat.config import format_timestamp
from source_freshchat.extract import reach_floor

from ..conftest import API, CONFIG, records_of, run_read
from ..discovery.test_change_feed import STORAGE

NOW = datetime.now(timezone.utc)


def csv_text(header, *rows) -> str:
    return "\n".join(",".join(cells) for cells in (header, *rows)) + "\n"


def mock_event(requests_mock, event: str, *link_bodies: str, status: int = 200, listed_backwards: bool = False) -> None:
    if status != 200:
        message = f"Event {event} is not supported for this account"
        requests_mock.post(f"{API}/reports/raw", status_code=status, json={"code": status, "status": "BAD_REQUEST", "message": message})
        return
    requests_mock.post(f"{API}/reports/raw", json=lambda request, _: {"id": f"job-{request.json()['event']}"})
    links = []
    for index, body in enumerate(link_bodies):
        start = NOW - timedelta(days=len(link_bodies) - index)
        links.append(
            {
                "from": format_timestamp(start),
                "to": format_timestamp(start + timedelta(days=1)),
                "status": "COMPLETED",
                "link": {"href": f"{STORAGE}/{event}-{index}.csv?sig=s"},
            }
        )
        requests_mock.get(f"{STORAGE}/{event}-{index}.csv", text=body)
    links = links[::-1] if listed_backwards else links
    requests_mock.get(f"{API}/reports/raw/job-{event}", json={"id": f"job-{event}", "status": "COMPLETED", "links": links})


def report_states(output, stream):
    return [m.state.stream.stream_state.__dict__ for m in output.state_messages if m.state.stream.stream_descriptor.name == stream]


def test_rows_are_typed_by_schema_and_keyed(requests_mock):
    recent = format_timestamp(NOW - timedelta(hours=5))
    mock_event(
        requests_mock,
        "First-Response-Time",
        csv_text(
            ["Conversation ID", "Agent ID", "Value In Seconds", "Created At", "New Column"],
            ["c1", "a1", "42", recent.replace("T", " ")[:19], "x"],
        ),
    )
    output = run_read(["first_response_time"], sync_mode=SyncMode.incremental)
    [record] = records_of(output, "first_response_time")
    assert record["value_in_seconds"] == 42 and isinstance(record["value_in_seconds"], int)
    assert record["created_at"] == recent[:19] + ".000Z"
    assert record["new_column"] == "x"
    assert len(record["event_id"]) == 32
    again = run_read(["first_response_time"], sync_mode=SyncMode.incremental)
    assert records_of(again, "first_response_time")[0]["event_id"] == record["event_id"]  # stable across windows


def test_state_moves_after_each_link_so_a_restart_skips_finished_links(requests_mock):
    header = ["csat_id", "conversation_id", "value", "created_at"]
    mock_event(
        requests_mock,
        "CSAT-Score",
        csv_text(header, ["s1", "c1", "5", format_timestamp(NOW - timedelta(hours=30))]),
        csv_text(header, ["s2", "c2", "3", format_timestamp(NOW - timedelta(hours=5))]),
    )
    output = run_read(["csat_score"], sync_mode=SyncMode.incremental)
    assert [r["csat_id"] for r in records_of(output, "csat_score")] == ["s1", "s2"]
    states = [state["created_at"] for state in report_states(output, "csat_score")]
    first_link_end = format_timestamp(NOW - timedelta(days=1))
    assert states[0][:16] == first_link_end[:16]  # checkpointed at the end of the first link
    assert states[-1] > states[0]


def test_an_incremental_window_starts_at_the_state_less_the_overlap(requests_mock):
    mock_event(requests_mock, "Conversation-Created", csv_text(["conversation_id", "created_at"]))
    through = NOW - timedelta(days=2)
    run_read(
        ["conversation_created"],
        config={**CONFIG, "feed_overlap_minutes": 30},
        sync_mode=SyncMode.incremental,
        state={"conversation_created": {"created_at": format_timestamp(through)}},
    )
    body = next(r.json() for r in requests_mock.request_history if r.method == "POST")
    assert body["start"] == format_timestamp(through - timedelta(minutes=30))
    assert body["event"] == "Conversation-Created"


def test_a_start_date_after_the_state_wins_over_the_state(requests_mock):
    """A start date moved forward since the last sync: nothing before it is read, whatever the state says."""
    mock_event(requests_mock, "Conversation-Created", csv_text(["conversation_id", "created_at"]))
    start_date = NOW - timedelta(days=1)
    run_read(
        ["conversation_created"],
        config={**CONFIG, "start_date": format_timestamp(start_date)},
        sync_mode=SyncMode.incremental,
        state={"conversation_created": {"created_at": format_timestamp(NOW - timedelta(days=3))}},
    )
    body = next(r.json() for r in requests_mock.request_history if r.method == "POST")
    assert body["start"] == format_timestamp(start_date)


def quota_after(requests_mock, creations: int) -> list:
    """Job creation succeeds `creations` times, then meets the daily quota, ten hours from freeing up; every job is empty."""
    created = []

    def create(request, context):
        created.append(request.json())
        if len(created) > creations:
            context.status_code, context.headers["Retry-After"] = 429, "36000"
            return {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "Daily limit reached"}
        context.status_code = 202
        return {"id": f"job-{len(created)}"}

    requests_mock.post(f"{API}/reports/raw", json=create)
    requests_mock.get(re.compile(f"{API}/reports/raw/job-[0-9]"), json={"status": "COMPLETED", "links": []})  # nothing happened
    return created


def deferral_warnings(output, stream):
    return [m.log.message for m in output.logs if m.log.message.startswith(f"{stream}: ") and "continues next sync" in m.log.message]


def test_a_backfill_the_quota_stops_says_how_far_it_read_and_keeps_what_it_learned(requests_mock):
    """Pieces of the 24 h window the state remembers; the third creation meets the quota."""
    start = NOW.replace(microsecond=0) - timedelta(days=4)
    created = quota_after(requests_mock, 2)
    overlap = timedelta(minutes=CONFIG.get("feed_overlap_minutes", 60))
    state = {"csat_score": {"created_at": format_timestamp(start + overlap), "report_window_hours": 24}}
    output = run_read(["csat_score"], sync_mode=SyncMode.incremental, state=state)
    assert [body["start"] for body in created[:2]] == [format_timestamp(start), format_timestamp(start + timedelta(days=1))]
    (warning,) = deferral_warnings(output, "csat_score")
    assert warning.startswith("csat_score: 2 of 4 days read; continues next sync. Freshchat's quota")
    assert report_states(output, "csat_score")[-1] == {"created_at": format_timestamp(start + timedelta(days=2)), "report_window_hours": 24}


def test_a_backfill_the_quota_stops_at_once_read_nothing_even_after_a_start_date_moved_forward(requests_mock):
    quota_after(requests_mock, 0)
    state = {"csat_score": {"created_at": format_timestamp(NOW - timedelta(days=4)), "report_window_hours": 24}}
    config = {**CONFIG, "start_date": format_timestamp(NOW.replace(microsecond=0) - timedelta(days=2))}
    output = run_read(["csat_score"], config=config, sync_mode=SyncMode.incremental, state=state)
    (warning,) = deferral_warnings(output, "csat_score")
    assert warning.startswith("csat_score: 0 of 2 days read;")


def test_a_start_date_beyond_the_15_month_reach_is_clamped_with_a_log_line(requests_mock):
    mock_event(requests_mock, "Agent-Activity", csv_text(["agent_id", "created_at"]))
    output = run_read(["agent_activity"], config={**CONFIG, "start_date": "2020-01-01"})
    body = next(r.json() for r in requests_mock.request_history if r.method == "POST")
    assert body["start"][:10] == format_timestamp(reach_floor(datetime.now(timezone.utc)))[:10]
    assert len([m for m in output.logs if "reports for 15 months only" in m.log.message]) == 1


def test_a_refused_event_leaves_its_stream_empty_with_a_warning_and_the_sync_green(requests_mock):
    mock_event(requests_mock, "Chat-Transcript", status=400)
    requests_mock.get(f"{API}/roles", json={"roles": [{"id": "r1"}], "pagination": {}, "links": {}})
    output = run_read(["chat_transcript", "roles"])
    assert not output.errors
    assert records_of(output, "chat_transcript") == [] and len(records_of(output, "roles")) == 1
    assert any("The chat_transcript stream is empty this sync" in m.log.message for m in output.logs)


def test_a_failed_job_fails_only_its_stream(requests_mock):
    requests_mock.post(f"{API}/reports/raw", json={"id": "j1"})
    requests_mock.get(f"{API}/reports/raw/j1", json={"id": "j1", "status": "FAILED"})
    requests_mock.get(f"{API}/roles", json={"roles": [{"id": "r1"}], "pagination": {}, "links": {}})
    output = run_read(["roles", "resolution_time"])
    assert len(records_of(output, "roles")) == 1
    assert [e.trace.error.message for e in output.errors if "Resolution-Time" in e.trace.error.message]


def test_selected_report_jobs_are_created_back_to_back_and_unselected_ones_cost_nothing(requests_mock):
    requests_mock.post(f"{API}/reports/raw", json=lambda request, _: {"id": f"job-{request.json()['event']}"})
    for event in ("CSAT-Score", "Response-Time"):
        requests_mock.get(f"{API}/reports/raw/job-{event}", json={"status": "COMPLETED", "links": []})
    run_read(["csat_score", "response_time"])
    posts = [r.json()["event"] for r in requests_mock.request_history if r.method == "POST"]
    assert posts == ["CSAT-Score", "Response-Time"]
    assert [urlsplit(r.url).path for r in requests_mock.request_history][:2] == ["/v2/reports/raw", "/v2/reports/raw"]


def test_links_are_read_in_time_order_whatever_order_freshchat_lists_them(requests_mock):
    header = ["csat_id", "created_at"]
    mock_event(
        requests_mock,
        "CSAT-Score",
        csv_text(header, ["s1", format_timestamp(NOW - timedelta(hours=30))]),
        csv_text(header, ["s2", format_timestamp(NOW - timedelta(hours=5))]),
        listed_backwards=True,
    )
    output = run_read(["csat_score"], sync_mode=SyncMode.incremental)
    assert [r["csat_id"] for r in records_of(output, "csat_score")] == ["s1", "s2"]
    states = [state["created_at"] for state in report_states(output, "csat_score")]
    assert states == sorted(states)


def test_rows_more_than_a_day_before_the_window_are_left_out_and_nearer_ones_kept(requests_mock):
    """A job's window is Freshchat's to define, perhaps in the account's zone: only a row far outside it is another read's."""
    header = ["conversation_id", "created_at"]
    through = NOW - timedelta(hours=2)
    rows = [
        ["shared", format_timestamp(through - timedelta(hours=27))],  # the window starts an hour before `through`
        ["zone", format_timestamp(through - timedelta(hours=25, minutes=30))],  # 24.5 h before the window
        ["new", format_timestamp(through)],
    ]
    mock_event(requests_mock, "Conversation-Created", csv_text(header, *rows))
    output = run_read(
        ["conversation_created"], sync_mode=SyncMode.incremental, state={"conversation_created": {"created_at": format_timestamp(through)}}
    )
    assert [r["conversation_id"] for r in records_of(output, "conversation_created")] == ["zone", "new"]


def test_a_value_of_the_wrong_type_is_null_and_counted_in_one_warning(requests_mock):
    header = ["conversation_id", "value_in_seconds", "created_at"]
    recent = format_timestamp(NOW - timedelta(hours=1))
    mock_event(requests_mock, "Resolution-Time", csv_text(header, ["c1", "n/a", recent], ["c2", "also n/a", recent], ["c3", "7", recent]))
    output = run_read(["resolution_time"])
    assert [r.get("value_in_seconds") for r in records_of(output, "resolution_time")] == [None, None, 7]
    warnings = [m.log.message for m in output.logs if "did not have the schema's type" in m.log.message]
    assert warnings == ["resolution_time: 2 values of column value_in_seconds did not have the schema's type and were read as null"]


def test_row_keys_tell_events_apart_by_time_and_identity_and_natural_keys_stay_as_they_are(requests_mock):
    header = ["conversation_id", "agent_id", "created_at"]
    mock_event(
        requests_mock,
        "Conversation-Resolved",
        csv_text(
            header,
            ["c1", "a1", "2026-11-30T10:00:00.000Z"],
            ["c1", "a1", "2026-11-30T11:00:00.000Z"],
            ["c1", "a2", "2026-11-30T11:00:00.000Z"],
        ),
    )
    output = run_read(["conversation_resolved"])
    keys = [record["event_id"] for record in records_of(output, "conversation_resolved")]
    assert len(set(keys)) == 3
    streams = {stream.name: stream for stream in SourceFreshchat().streams(CONFIG)}
    assert streams["csat_score"].primary_key == "csat_id" and streams["conversation_resolved"].primary_key == "event_id"


def test_a_natural_key_missing_from_a_row_falls_back_to_the_row_hash(requests_mock):
    mock_event(requests_mock, "Message-Sent", csv_text(["message_id", "conversation_id", "created_at"], ["", "c1", format_timestamp(NOW)]))
    [record] = records_of(run_read(["message_sent"]), "message_sent")
    assert record.get("message_id") is None and len(record["event_id"]) == 32


@pytest.mark.parametrize("value", ["not a time", "2999-01-01T00:00:00Z"])
def test_an_unreadable_or_future_state_is_logged_and_read_from_the_earliest_window(requests_mock, value, caplog):
    mock_event(requests_mock, "Agent-Activity", csv_text(["agent_id", "created_at"]))
    output = run_read(["agent_activity"], sync_mode=SyncMode.incremental, state={"agent_activity": {"created_at": value}})
    assert any("Unreadable agent_activity state" in m.log.message for m in output.logs)
    body = next(r.json() for r in requests_mock.request_history if r.method == "POST")
    assert body["start"][:10] == format_timestamp(reach_floor(datetime.now(timezone.utc)))[:10]


def test_a_stream_read_on_its_own_asks_for_its_job_when_it_starts(requests_mock):
    mock_event(requests_mock, "Agent-Activity", csv_text(["agent_id", "created_at"], ["a1", format_timestamp(NOW)]))
    [stream] = [s for s in SourceFreshchat().streams(CONFIG) if s.name == "agent_activity"]
    assert not requests_mock.request_history  # not selected by a read: nothing asked yet
    slices = list(stream.stream_slices(sync_mode=SyncMode.full_refresh))
    assert slices == [{"piece": 0, "link": 0}]
    assert [r["agent_id"] for r in stream.read_records(SyncMode.full_refresh, stream_slice=slices[0])] == ["a1"]


def test_values_of_the_wrong_type_are_counted_once_for_the_whole_read_across_links(requests_mock):
    header = ["conversation_id", "value_in_seconds", "created_at"]
    recent = format_timestamp(NOW - timedelta(hours=1))
    mock_event(
        requests_mock,
        "Response-Time",
        csv_text(header, ["c1", "n/a", recent]),
        csv_text(header, ["c2", "?", recent], ["c3", "7.0", recent]),
    )
    output = run_read(["response_time"])
    assert [r.get("value_in_seconds") for r in records_of(output, "response_time")] == [None, None, 7.0]
    assert isinstance(records_of(output, "response_time")[2]["value_in_seconds"], float)  # "7.0" stays as written
    warnings = [m.log.message for m in output.logs if "did not have the schema's type" in m.log.message]
    assert warnings == ["response_time: 2 values of column value_in_seconds did not have the schema's type and were read as null"]


def test_an_unreadable_event_time_is_null_and_counted(requests_mock):
    mock_event(requests_mock, "Agent-Activity", csv_text(["agent_id", "created_at"], ["a1", "yesterday-ish"]))
    output = run_read(["agent_activity"])
    assert records_of(output, "agent_activity")[0].get("created_at") is None
    assert any("1 values of column created_at" in m.log.message for m in output.logs)


def test_links_without_times_move_the_state_only_at_the_end(requests_mock):
    header = ["csat_id", "created_at"]
    requests_mock.post(f"{API}/reports/raw", json={"id": "j1"})
    links = [{"status": "COMPLETED", "link": {"href": f"{STORAGE}/p{index}.csv?sig=s"}} for index in range(2)]
    requests_mock.get(f"{API}/reports/raw/j1", json={"id": "j1", "status": "COMPLETED", "links": links})
    for index in range(2):
        requests_mock.get(f"{STORAGE}/p{index}.csv", text=csv_text(header, [f"s{index}", format_timestamp(NOW - timedelta(hours=1))]))
    output = run_read(["csat_score"], sync_mode=SyncMode.incremental)
    assert [r["csat_id"] for r in records_of(output, "csat_score")] == ["s0", "s1"]
    states = report_states(output, "csat_score")
    assert states[0] == {} and states[-1]["created_at"] >= format_timestamp(NOW - timedelta(minutes=1))


# A destination de-duplicates on event_id: a key that changed between versions would double every row read again.
KEYS_OF_ONE_ROW = {
    "agent_activity": "40dcfe14752e4539c40f30a4616d5f39",
    "agent_intelliassign_activity": "b02094a5f57661ac025f377469323d78",
    "conversation_agent_assigned": "ef3f216288dce30e944622d4b2fe4c7d",
    "conversation_group_assigned": "8be3ed7f55bc2cca9b1cd51349cba6da",
    "conversation_created": "e1e9fd2850a3a0ee810690e7a0a6e753",
    "conversation_resolved": "cacd96ed909a0cc43bf15e55364241fd",
    "conversation_resolution_label": "11c479a1cf9882c683cf22cfc8652569",
    "message_sent": "345adc75430ad3d5adbd3c78f0b43c91",
    "csat_score": "49a3edce73bc3a0b308010790b52a38a",
    "first_response_time": "f32cfa3b7ccd00be59db0720322f9c2d",
    "response_time": "77d973999ed62bb14df27cf9687ba492",
    "resolution_time": "383cd080ae4725b8d7855f063f540379",
    "chat_transcript": "3eb060b18acb81282efa722a773e639c",
}


def test_the_key_of_a_row_is_the_same_in_every_version():
    row = {
        "conversation_id": "c1",
        "agent_id": "a1",
        "group_id": "g1",
        "status": "AVAILABLE",
        "activity": "ON",
        "label": "Billing",
        "sub_label": "Refund",
        "created_at": "2026-11-30T10:00:00.000Z",
        "created_time": "2026-11-30T11:00:00.000Z",
    }
    keys = {stream.name: stream.row_key(row) for stream in SourceFreshchat().streams(CONFIG) if stream.name in KEYS_OF_ONE_ROW}
    assert keys == KEYS_OF_ONE_ROW
