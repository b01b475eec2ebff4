"""`source-freshchat diagnose` end to end: the installed command against the emulator in each reading it can play.

Every test runs the real console script in a process, reads its JSON report and checks that the report
states the emulator's variant; one plants known secrets in the data and proves none of them is printed
or written. Waits are shortened by the command's own options, so a run takes a second or two; the
rate-limit timing, which has to wait for real windows, runs once on short windows.
"""

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping

import pytest
import requests

from integration_tests.emulator import Behaviour, FreshchatEmulator
from source_freshchat.diagnose import main
from source_freshchat.streams.report_events import EVENTS

from .harness import CONNECTOR, wait_for_the_next_second

FAST = ["--poll-seconds", "0.05", "--creation-interval", "0", "--rate-limit-wait", "0"]
API_KEY = "diagnose-secret-key-7Hq2Zp9Xw4Lk8Vb3"
PLANTED_EMAIL = "zanzibar.quibble@secret-customer.example"
PLANTED_NAME = "Zanzibarius"
PLANTED_TEXT = "TOP-SECRET-PAYLOAD-kumquat"
NEW_YORK = "America/New_York"


@dataclass
class Diagnosis:
    returncode: int
    stdout: str
    stderr: str
    report: Mapping[str, Any]

    @property
    def rest(self) -> Mapping[str, Any]:
        return self.report["rest"]

    @property
    def extract(self) -> Mapping[str, Any]:
        return self.report["extract"]

    def event(self, name: str) -> Mapping[str, Any]:
        return self.extract["events"][name]


def diagnose_process(tmp_path: Path, config: Mapping[str, Any], *args: str) -> Diagnosis:
    """The installed console script, as a user runs it."""
    config_path, output = tmp_path / "config.json", tmp_path / "diagnose.json"
    config_path.write_text(json.dumps(config))
    command = [str(CONNECTOR), "diagnose", "--config", str(config_path), "--output", str(output), *FAST, *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return Diagnosis(completed.returncode, completed.stdout, completed.stderr, json.loads(output.read_text()))


@pytest.fixture
def diagnose(tmp_path, capsys):
    """The same command in this process (the console script's start-up costs seconds here): `diagnose(emulator, *args)`."""

    def run(emulator: FreshchatEmulator, *args: str) -> Diagnosis:
        config_path, output = tmp_path / "config.json", tmp_path / "diagnose.json"
        config_path.write_text(json.dumps(emulator.config()))
        returncode = main(["--config", str(config_path), "--output", str(output), *FAST, *args])
        captured = capsys.readouterr()
        assert returncode == 0, captured.err
        return Diagnosis(returncode, captured.out, captured.err, json.loads(output.read_text()))

    return run


def with_recent_activity(emulator: FreshchatEmulator, conversations: int = 4) -> List[dict]:
    """New conversations, each with a message, an assignment and a resolution: rows for the last day's reports."""
    data, created = emulator.data, []
    for user_id in list(data.user_conversations)[:conversations]:
        conversation = data.add_conversation(user_id)
        data.add_message(conversation["conversation_id"], actor_type="user")
        data.assign_conversation(conversation["conversation_id"], agent_id=data.agents[0]["id"])
        data.resolve_conversation(conversation["conversation_id"])
        created.append(conversation)
    wait_for_the_next_second()
    return created


@pytest.fixture
def emulator():
    with FreshchatEmulator(seed=5, users=8, api_key=API_KEY, recent=True) as running:
        with_recent_activity(running)
        yield running


def test_the_default_account_is_reported_as_the_emulator_serves_it_in_every_part(tmp_path, emulator):
    emulator.behaviour.rate_limit, emulator.behaviour.rate_limit_window_seconds = 500, 4.0
    diagnosis = diagnose_process(tmp_path, emulator.config(), "--rate-limit-wait", "10")  # the last one wins over FAST's 0
    assert diagnosis.returncode == 0, diagnosis.stderr

    rate_limit = diagnosis.rest["rate_limit"]
    assert (rate_limit["limit"], rate_limit["reset_rounding"], rate_limit["window_opens"]) == (500, "up", "at the first request")
    assert rate_limit["window_seconds"] == 4
    assert diagnosis.rest["users_updated_from"]["verdict"] == "honoured"
    assert (diagnosis.rest["items_per_page"]["largest_served"], diagnosis.rest["items_per_page"]["above_50"]) == (50, "clamped to 50")
    assert diagnosis.rest["message_moves_conversation"]["verdict"] == "yes"

    assert list(diagnosis.extract["events"]) == list(list(EVENTS))
    assert {finding["outcome"] for finding in diagnosis.extract["events"].values()} == {"completed"}
    created = diagnosis.event("Conversation-Created")
    assert created["header"] == ["conversation_id", "user_id", "channel_id", "group_id", "created_at"]
    assert (created["payload"], created["files"], created["rows"], created["links"]) == ("zip", 1, 4, 1)
    assert created["storage_hosts"] == ["127.0.0.1"]
    assert created["time_formats"] == [{"format": "iso", "offset": "Z", "shape": "9999-99-99T99:99:99.999Z"}]
    assert created["interval_echo"]["written_with_offset"] is True
    assert diagnosis.extract["zone"] == {"report_times": "written with their offset", "account_timezone": "present"}
    assert diagnosis.extract["long_window"]["outcome"] == "completed"
    assert diagnosis.extract["quota"]["throttled_creations"] == 0
    assert "REST API" in diagnosis.stdout and "Conversation-Created" in diagnosis.stdout and "bug reports" in diagnosis.stdout
    assert f"[{len(list(EVENTS)) + 1}/{len(list(EVENTS)) + 1}]" in diagnosis.stderr  # one progress line per job


def test_no_secret_value_id_link_query_or_key_reaches_the_output(tmp_path):
    refusal = "Window too long for account 48151623 (owner ops.lead@secret-customer.example, app 0f8fad5b-d9cb-469f-a165-70867728950e)"
    behaviour = Behaviour(report_max_window_hours={"*": 24 * 7}, report_window_refusal=refusal, report_payload="csv")
    with FreshchatEmulator(seed=3, users=6, api_key=API_KEY, behaviour=behaviour, recent=True) as emulator:
        user = emulator.data.add_user(email=PLANTED_EMAIL, first_name=PLANTED_NAME)
        conversation = emulator.data.add_conversation(user["id"])
        emulator.data.add_message(conversation["conversation_id"], actor_type="user", message_parts=[{"text": {"content": PLANTED_TEXT}}])
        with_recent_activity(emulator)
        diagnosis = diagnose_process(tmp_path, emulator.config(), "--events", "Chat-Transcript,Conversation-Created")
        secrets = {API_KEY, PLANTED_EMAIL, PLANTED_NAME, PLANTED_TEXT, "48151623", "ops.lead@secret-customer.example"}
        secrets |= known_values(emulator)
        secrets |= {value for _, query, _, _ in emulator.storage_log for value in query.values() if len(value) >= 8}
        secrets |= {path.rsplit("/", 1)[1] for _, path, _, _, _ in emulator.request_log if path.startswith("/v2/reports/raw/")}
    assert diagnosis.event("Chat-Transcript")["rows"] >= 5  # the planted message was downloaded and counted
    assert diagnosis.extract["long_window"]["message"] == (
        "BAD_REQUEST - Window too long for account <number> (owner <email>, app <uuid>)"
    )  # Freshchat's own words are kept, scrubbed
    written = json.dumps(diagnosis.report)
    for output in (written, diagnosis.stdout, diagnosis.stderr):
        leaked = sorted(secret for secret in secrets if secret in output)
        assert not leaked
    assert "X-Amz" not in written + diagnosis.stdout + diagnosis.stderr


def known_values(emulator: FreshchatEmulator) -> set:
    """Every id, email, name and message text of the emulator's people and conversations."""
    data, values = emulator.data, set()
    for record in list(data.users.values()) + list(data.agents) + list(data.conversations.values()):
        values |= {str(record[key]) for key in ("id", "conversation_id", "email", "first_name", "last_name", "phone") if record.get(key)}
    for thread in data.messages.values():
        for message in thread:
            values.add(message["id"])
            values |= {part["text"]["content"] for part in message.get("message_parts", []) if "text" in part}
    values |= {str(data.account[key]) for key in ("account_id", "app_id", "account_domain") if data.account.get(key)}
    return {value for value in values if len(value) >= 6}


@pytest.mark.parametrize(
    "limits, long_outcome, small_outcome",
    [({"*": 24}, "refused", "completed"), ({"Conversation-Created": 24 * 40}, "completed", "completed")],
)
def test_window_limits_show_as_the_long_window_refused_in_freshchats_words(diagnose, emulator, limits, long_outcome, small_outcome):
    emulator.behaviour.report_max_window_hours = limits
    diagnosis = diagnose(emulator, "--events", "Conversation-Created,CSAT-Score")
    long_window = diagnosis.extract["long_window"]
    assert (long_window["event"], long_window["outcome"]) == ("Conversation-Created", long_outcome)
    if long_outcome == "refused":
        assert long_window["status"] == 400
        assert long_window["message"] == "BAD_REQUEST - The time range between start and end must not exceed 24 hours"
    assert {finding["outcome"] for finding in diagnosis.extract["events"].values()} == {small_outcome}


def test_long_windows_split_into_links_are_counted_with_their_spans(diagnose, emulator):
    emulator.behaviour.report_link_hours = 24 * 7
    diagnosis = diagnose(emulator, "--events", "Conversation-Created")
    long_window = diagnosis.extract["long_window"]
    assert (long_window["links"], long_window["link_hours"]) == (5, [72.0, 168.0])  # 31 days: four weeks and three days


def test_a_daily_quota_per_event_is_recorded_with_its_retry_after_and_not_waited_out(diagnose, emulator):
    emulator.behaviour.report_daily_quota = 1
    diagnosis = diagnose(emulator, "--events", "Conversation-Created,CSAT-Score")
    quota = diagnosis.extract["quota"]
    assert diagnosis.extract["long_window"]["outcome"] == "completed"  # the long window goes first and takes the event's one job
    assert diagnosis.event("Conversation-Created")["outcome"] == "quota"
    assert diagnosis.event("CSAT-Score")["outcome"] == "completed"
    assert (quota["refused_events"], quota["scope"], quota["without_retry_after"]) == (["Conversation-Created"], "per event", 0)
    assert quota["retry_after_seconds"][0] > 120  # until the next UTC day (unless the test runs in its last two minutes)
    assert quota["messages"] == [
        "TOO_MANY_REQUESTS - Daily limit of 1 report requests reached for event Conversation-Created; try again tomorrow"
    ]


def test_a_daily_quota_per_account_without_retry_after_is_tried_again_then_recorded(diagnose, emulator):
    emulator.behaviour.report_daily_quota, emulator.behaviour.report_daily_quota_scope = 1, "account"
    emulator.behaviour.report_daily_quota_retry_after = False
    diagnosis = diagnose(emulator, "--events", "Conversation-Created,CSAT-Score")
    quota = diagnosis.extract["quota"]
    assert (quota["refused_events"], quota["scope"]) == (["Conversation-Created", "CSAT-Score"], "per account")
    assert quota["without_retry_after"] == quota["throttled_creations"] == 6  # three tries for each of the two jobs
    assert quota["retry_after_seconds"] == []


def test_the_per_minute_creation_quota_is_waited_out_and_counted(diagnose, emulator):
    emulator.behaviour.report_jobs_per_window, emulator.behaviour.report_job_window_seconds = 1, 1.0
    diagnosis = diagnose(emulator, "--events", "Conversation-Created,CSAT-Score")
    quota = diagnosis.extract["quota"]
    assert {finding["outcome"] for finding in diagnosis.extract["events"].values()} == {"completed"}
    assert quota["throttled_creations"] >= 2 and quota["retry_after_seconds"] == [1]
    assert (quota["refused_events"], quota["scope"]) == ([], "not reached")


@pytest.mark.parametrize(
    "time_format, written",
    [
        ("iso", {"format": "iso", "offset": "none", "shape": "9999-99-99T99:99:99.999"}),
        ("space", {"format": "space", "offset": "none", "shape": "9999-99-99 99:99:99.999"}),
        ("epoch_s", {"format": "epoch_s", "offset": "UTC (epoch)", "shape": "9999999999"}),
        ("epoch_ms", {"format": "epoch_ms", "offset": "UTC (epoch)", "shape": "9999999999999"}),
    ],
)
def test_report_times_in_the_accounts_zone_show_their_format_and_the_zone_of_the_interval_echo(diagnose, emulator, time_format, written):
    emulator.behaviour.report_time_zone, emulator.behaviour.report_time_format = NEW_YORK, time_format
    diagnosis = diagnose(emulator, "--events", "Conversation-Created")
    created = diagnosis.event("Conversation-Created")
    assert created["time_formats"] == [written]
    assert created["interval_echo"]["written_with_offset"] is False
    assert created["link_time_shape"] == "9999-99-99 99:99:99.9"
    assert diagnosis.extract["zone"] == {"report_times": "wall clock without offset, UTC-05:00", "account_timezone": "agrees"}


def test_without_an_interval_echo_or_an_account_timezone_the_zone_is_reported_unknown(diagnose, emulator):
    emulator.behaviour.report_interval_echo, emulator.behaviour.account_time_zone = False, False
    diagnosis = diagnose(emulator, "--events", "Conversation-Created")
    assert diagnosis.event("Conversation-Created")["interval_echo"] == {"echo": "absent"}
    assert diagnosis.extract["zone"] == {"report_times": "unknown: no interval echo of the window asked", "account_timezone": "absent"}
    assert diagnosis.report["account"]["timezone"] == "absent"


def test_a_plain_csv_with_title_headers_is_reported_with_its_header_row_as_served(diagnose, emulator):
    emulator.behaviour.report_payload, emulator.behaviour.report_header_style = "csv", "title"
    diagnosis = diagnose(emulator, "--events", "Conversation-Created,CSAT-Score")
    created = diagnosis.event("Conversation-Created")
    assert created["header"] == ["Conversation ID", "User ID", "Channel ID", "Group ID", "Created At"]
    assert created["columns"] == ["conversation_id", "user_id", "channel_id", "group_id", "created_at"]
    assert (created["payload"], created["time_column"]) == ("csv", "created_at")
    assert created["time_formats"] == [{"format": "space", "offset": "none", "shape": "9999-99-99 99:99:99"}]
    assert diagnosis.event("CSAT-Score")["header"][:2] == ["CSAT ID", "Conversation ID"]


def test_a_zip_of_several_files_is_counted(diagnose, emulator):
    emulator.behaviour.report_files_per_zip = 3
    diagnosis = diagnose(emulator, "--events", "Conversation-Created")
    assert (diagnosis.event("Conversation-Created")["payload"], diagnosis.event("Conversation-Created")["files"]) == ("zip", 3)


def test_refused_events_and_an_account_without_the_extract_api_keep_freshchats_answer(diagnose, emulator):
    emulator.behaviour.refused_events = {"Chat-Transcript"}
    diagnosis = diagnose(emulator, "--events", "Chat-Transcript,CSAT-Score")
    refused = diagnosis.event("Chat-Transcript")
    assert (refused["outcome"], refused["status"]) == ("refused", 400)
    assert refused["message"] == "BAD_REQUEST - Event Chat-Transcript is not supported for this account"
    assert diagnosis.event("CSAT-Score")["outcome"] == "completed"
    assert "refused (HTTP 400): BAD_REQUEST - Event Chat-Transcript is not supported" in diagnosis.stdout

    emulator.behaviour.extract_api = "forbidden"
    diagnosis = diagnose(emulator, "--events", "CSAT-Score")
    assert {(finding["outcome"], finding["status"]) for finding in [diagnosis.event("CSAT-Score"), diagnosis.extract["long_window"]]} == {
        ("refused", 403)
    }
    assert diagnosis.event("CSAT-Score")["message"] == "FORBIDDEN - The Extract API is not enabled for this account"


def test_the_rest_readings_opposite_to_the_defaults_are_each_reported(diagnose, emulator):
    behaviour = emulator.behaviour
    behaviour.users_filter_updated_from, behaviour.over_max_page_size, behaviour.message_bumps_conversation = False, "reject", False
    for conversation_ids in list(emulator.data.user_conversations.values())[:5]:
        emulator.data.add_message(conversation_ids[0])  # newer than its conversation's updated_time, which stays
    diagnosis = diagnose(emulator, "--events", "none")
    assert diagnosis.rest["users_updated_from"] == {"users": 8, "users_updated_since_now": 8, "verdict": "ignored"}
    pages = diagnosis.rest["items_per_page"]
    assert (pages["largest_served"], pages["above_50"]) == (50, "refused")
    assert [attempt["status"] for attempt in pages["tries"]] == [200, 400, 400]
    assert diagnosis.rest["message_moves_conversation"]["verdict"] == "no"
    assert "extract" not in diagnosis.report


def test_the_rate_limit_timing_is_skipped_when_the_window_is_longer_than_the_wait_allowed(diagnose, emulator):
    emulator.behaviour.rate_limit = 1000  # the emulator's default window is 60 s
    diagnosis = diagnose(emulator, "--events", "none", "--rate-limit-wait", "5")
    rate_limit = diagnosis.rest["rate_limit"]
    assert rate_limit["limit"] == 1000 and "reset_rounding" not in rate_limit
    assert re.fullmatch(r"not measured: the window resets in \d+ s, more than --rate-limit-wait allows", rate_limit["timing"])


def test_a_wrong_key_stops_at_the_account_probe_with_freshchats_answer(tmp_path, emulator):
    diagnosis = diagnose_process(tmp_path, emulator.config(api_key="not-the-key"))
    assert diagnosis.returncode == 1
    assert diagnosis.report["account"] == {"status": 401, "message": "UNAUTHORIZED - Invalid or missing Bearer token"}
    assert "rest" not in diagnosis.report and "refused (HTTP 401)" in diagnosis.stdout


def open_window_at_half_a_second(emulator: FreshchatEmulator) -> None:
    """A window opened half-way through a second ends half-way through one too, so its reset is half a second off it."""
    time.sleep(1.5 - time.time() % 1)
    response = requests.get(f"{emulator.url}/v2/accounts/configuration", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert response.headers["X-RateLimit-Remaining"] == str(emulator.behaviour.rate_limit - 1)


def test_a_reset_rounded_down_is_seen_as_a_window_that_goes_on_past_its_reset(diagnose, emulator):
    emulator.behaviour.rate_limit, emulator.behaviour.rate_limit_window_seconds = 500, 4.0
    emulator.behaviour.rate_limit_reset_rounding = "down"
    open_window_at_half_a_second(emulator)
    rate_limit = diagnose(emulator, "--events", "none", "--rate-limit-wait", "10").rest["rate_limit"]
    assert (rate_limit["reset_rounding"], rate_limit["window_opens"], rate_limit["window_seconds"]) == ("down", "at the first request", 4)


def test_windows_on_the_clock_are_seen_by_a_window_opened_late_in_its_beat_ending_on_time(diagnose, emulator):
    emulator.behaviour.rate_limit, emulator.behaviour.rate_limit_window_seconds = 500, 4.0
    emulator.behaviour.rate_limit_window_opens, emulator.behaviour.rate_limit_reset_rounding = "clock", "down"
    rate_limit = diagnose(emulator, "--events", "none", "--rate-limit-wait", "10").rest["rate_limit"]
    assert (rate_limit["reset_rounding"], rate_limit["window_opens"], rate_limit["window_seconds"]) == ("up", "on the clock", 4)
    # a clock-aligned window of whole seconds ends exactly on the second its reset names, however it is rounded


def test_windows_another_client_spends_as_they_open_are_not_timed(diagnose, emulator):
    emulator.behaviour.rate_limit, emulator.behaviour.rate_limit_window_seconds = 500, 4.0
    emulator.behaviour.rate_limit_spent_by_others = 3
    rate_limit = diagnose(emulator, "--events", "none", "--rate-limit-wait", "10").rest["rate_limit"]
    assert (rate_limit["limit"], rate_limit["timing"]) == (500, "not measured: another client is spending the same limit")
    assert "window_opens" not in rate_limit
