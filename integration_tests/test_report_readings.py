"""Reports end to end under each reading of the Extract API that no document settles (README, report streams).

The installed connector against the emulator playing one reading at a time, or two together: windows refused as too
long, a daily quota, report times in the account's zone (found or not), long fields. Each test compares with the
emulator's truth: no row lost, no change missed.
"""

from datetime import datetime, timedelta, timezone

from source_freshchat.config import format_timestamp

from .emulator import Behaviour, FreshchatEmulator
from .harness import configured_catalog, run_connector
from .test_change_feed import LISTING, change_one_of_each_kind, feed_emulator, feed_only, first_sync

NEW_YORK = "America/New_York"
REFUSED_CREATIONS = "POST /v2/reports/raw"


def refusals(emulator: FreshchatEmulator) -> int:
    return sum(1 for method, path, _, status, _ in emulator.request_log if (method, path, status) == ("POST", "/v2/reports/raw", 400))


def report_emulator(**behaviour) -> FreshchatEmulator:
    return FreshchatEmulator(
        seed=29,
        users=30,
        conversations_per_user=2,
        messages_per_conversation=4,
        recent=True,
        behaviour=Behaviour(report_pending_polls=0, **behaviour),
    )


def read_reports(emulator, tmp_path, streams, state=None, **config):
    config = emulator.config(**config)
    catalog = configured_catalog(tmp_path, config, streams, incremental=True)
    return run_connector(tmp_path, "read", config, catalog, state=state)


def days_ago(days: float) -> str:
    return format_timestamp(datetime.now(timezone.utc) - timedelta(days=days))


def history(emulator: FreshchatEmulator, days: int, per_day: int = 3) -> None:
    """Messages spread over the last `days` days, and a few resolutions with CSAT now: the bundled data is older."""
    conversations = list(emulator.data.conversations)
    for step in range(days * per_day):
        moment = days_ago((step + 0.5) / per_day)
        emulator.data.add_message(conversations[step % len(conversations)], actor_type="user", created_time=moment)
    for conversation_id in conversations[:3]:
        emulator.data.resolve_conversation(conversation_id, csat=4)
        emulator.data.add_conversation(emulator.data.conversations[conversation_id]["user_id"])


# -- the change feed -----------------------------------------------------------------------------
def assert_feed_finds_every_visible_change(emulator, tmp_path, **config):
    config, catalog, first = first_sync(emulator, tmp_path, **config)
    changed, new_messages = change_one_of_each_kind(emulator.data)
    emulator.reset_counters()
    second = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, first.final_state()))
    assert second.returncode == 0 and not second.errors(), second.stderr[-2000:]
    assert any("follow the change feed this sync" in line for line in second.logs())
    assert emulator.request_counts[LISTING] == 0  # the feed alone found them
    assert not any("change feed is unavailable" in line for line in second.logs())
    seen = {record["conversation_id"] for record in second.records("conversations")}
    missed = [kind for kind in ("user_message", "agent_message", "resolved", "assigned", "created") if changed[kind] not in seen]
    assert missed == [], f"the feed missed {missed}"
    assert set(new_messages) <= {message["id"] for message in second.records("messages")}
    return config, catalog, second


def test_the_feed_finds_every_change_when_report_times_are_local_to_the_account(tmp_path):
    with feed_emulator(report_time_zone=NEW_YORK) as emulator:
        _, _, second = assert_feed_finds_every_visible_change(emulator, tmp_path)
    assert any("read as America/New_York" in line for line in second.logs())


def test_the_feed_finds_every_change_where_nothing_tells_the_zone_of_report_times(tmp_path):
    with feed_emulator(report_time_zone="America/Los_Angeles", report_interval_echo=False, account_time_zone=False) as emulator:
        _, _, second = assert_feed_finds_every_visible_change(emulator, tmp_path)
    assert len([line for line in second.logs("WARN") if "read as UTC: nothing tells their zone" in line]) == 1


def test_the_feed_asks_a_refused_window_in_pieces_and_the_next_sync_asks_in_pieces_at_once(tmp_path):
    # Five hours of overlap make a window of about five hours, over the two hours every event allows.
    limits = {"report_max_window_hours": {"*": 2}, "report_time_zone": NEW_YORK}
    with feed_emulator(**limits) as emulator:
        config, catalog, second = assert_feed_finds_every_visible_change(emulator, tmp_path, feed_overlap_minutes=300)
        assert refusals(emulator) == 5  # once per event of the feed, then pieces of the two hours the refusal states
        state = second.final_state()
        (conversations,) = [
            entry["stream"]["stream_state"] for entry in state if entry["stream"]["stream_descriptor"]["name"] == "conversations"
        ]
        assert conversations["discovery"]["report_windows"]["Chat-Transcript"] == 2
        emulator.reset_counters()
        third = run_connector(tmp_path, "read", config, catalog, state=feed_only(emulator, state))
        assert third.returncode == 0 and not third.errors(), third.stderr[-2000:]
        assert refusals(emulator) == 0 and emulator.request_counts[REFUSED_CREATIONS] == 15  # 3 pieces x 5 events


def test_a_daily_quota_sends_auto_to_the_walk_for_one_sync_without_losing_a_change(tmp_path):
    with feed_emulator(report_daily_quota=0, report_time_zone=NEW_YORK) as emulator:
        config, catalog, first = first_sync(emulator, tmp_path)
        changed, _ = change_one_of_each_kind(emulator.data)
        second = run_connector(tmp_path, "read", config, catalog, state=first.final_state())
        assert second.returncode == 0 and not second.errors(), second.stderr[-2000:]
        assert any("walk every user: Freshchat's quota on creating" in line for line in second.logs("WARN"))
        seen = {record["conversation_id"] for record in second.records("conversations")}
        assert set(changed.values()) <= seen  # the walk sees them all, the property-only edit too


# -- the report streams --------------------------------------------------------------------------
def test_report_times_in_the_accounts_zone_are_emitted_in_utc_and_none_is_lost(tmp_path):
    with report_emulator(report_time_zone=NEW_YORK, report_time_format="space") as emulator:
        history(emulator, 10)
        started = days_ago(10)
        run = read_reports(emulator, tmp_path, ["csat_score", "chat_transcript"], start_date=started)
        assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
        for stream, event, column in (("csat_score", "CSAT-Score", "created_at"), ("chat_transcript", "Chat-Transcript", "created_time")):
            truth = sorted(row[column] for row in emulator.data.report_rows(event, started, days_ago(-1)))
            assert truth and sorted(record[column] for record in run.records(stream)) == truth, stream


def test_where_nothing_tells_the_zone_every_row_is_kept_and_the_guess_is_said_once(tmp_path):
    behaviour = dict(report_time_zone=NEW_YORK, report_interval_echo=False, account_time_zone=False)
    with report_emulator(**behaviour) as emulator:
        history(emulator, 10)
        started = days_ago(10)
        run = read_reports(emulator, tmp_path, ["chat_transcript"], start_date=started)
        assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
        truth = {row["message_id"] for row in emulator.data.report_rows("Chat-Transcript", started, days_ago(-1))}
        assert truth and {record["message_id"] for record in run.records("chat_transcript")} >= truth
        assert len([line for line in run.logs("WARN") if "read as UTC: nothing tells their zone" in line]) == 1


def test_a_backfill_under_a_window_limit_and_a_daily_quota_finishes_over_several_syncs_with_nothing_lost(tmp_path):
    limits = {"Chat-Transcript": 24, "*": 24 * 30}
    with report_emulator(report_max_window_hours=limits, report_daily_quota=5, report_time_zone=NEW_YORK) as emulator:
        history(emulator, 12)
        started, streams = days_ago(12), ["chat_transcript", "csat_score"]
        records, state, syncs = {}, None, []
        for _ in range(4):
            run = read_reports(emulator, tmp_path, streams, state=state, start_date=started)
            assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
            syncs.append(run)
            for record in run.records("chat_transcript"):
                records.setdefault(record["message_id"], []).append(record)
            state = run.final_state()
            emulator.new_day()
        progress = [line for run in syncs for line in run.logs("WARN") if line.startswith("chat_transcript: ")]
        assert len(progress) == 2 and all("read; continues next sync" in line for line in progress), progress
        assert "frees up at about" in progress[0] and "Daily limit of 5 report requests" in progress[0]
        assert not any(line.startswith("csat_score: ") for run in syncs for line in run.logs("WARN"))
        truth = {row["message_id"] for row in emulator.data.report_rows("Chat-Transcript", started, days_ago(-1))}
        assert truth and set(records) == truth
        # No piece is read twice, the overlap aside: every job of the backfill starts where the one before ended, or
        # up to the overlap (60 min) before.
        jobs = sorted((job.start, job.end) for job in emulator.reports._jobs.values() if job.event == "Chat-Transcript")
        for (_, end), (start, _) in zip(jobs, jobs[1:]):
            assert timedelta(0) <= datetime.fromisoformat(end) - datetime.fromisoformat(start) <= timedelta(minutes=60)
        assert refusals(emulator) == 1  # the first sync learned the 24 h window; later syncs asked in pieces at once


def test_a_backfill_through_quiet_days_whose_pieces_have_no_links_moves_on_each_sync(tmp_path):
    """Where Freshchat gives an empty piece no link, a sync may read no link at all: its state must still move past them."""
    readings = {"report_links_of_empty_pieces": False, "report_max_window_hours": {"*": 24}, "report_daily_quota": 3}
    with report_emulator(**readings) as emulator:
        conversation_id = next(iter(emulator.data.conversations))
        message = emulator.data.add_message(conversation_id, actor_type="user")  # the only row of the last six days
        started, state, syncs = days_ago(6), None, []
        for _ in range(3):
            run = read_reports(emulator, tmp_path, ["chat_transcript"], state=state, start_date=started)
            assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
            syncs.append(run)
            state = run.final_state()
            emulator.new_day()
        assert syncs[0].records("chat_transcript") == [] and any("continues next sync" in line for line in syncs[0].logs("WARN"))
        assert [record["message_id"] for run in syncs for record in run.records("chat_transcript")] == [message["id"]]
        windows = [(job.start, job.end) for job in emulator.reports._jobs.values() if job.event == "Chat-Transcript"]
        assert len(windows) == len(set(windows)) == 7  # 3 pieces, then 4 from an hour before where the first sync stopped


def test_a_window_refused_even_at_an_hour_fails_its_stream_with_freshchats_words(tmp_path):
    with report_emulator(report_max_window_hours={"CSAT-Score": 0.5}) as emulator:
        history(emulator, 1)
        run = read_reports(emulator, tmp_path, ["csat_score", "conversation_created"], start_date=days_ago(10))
    assert run.returncode != 0
    assert any("The time range between start and end must not exceed 0.5 hours" in error for error in run.errors())
    assert run.records("conversation_created")  # the other stream is still read


def test_a_ten_megabyte_message_reads_whole(tmp_path):
    with report_emulator() as emulator:
        text = "pasted log line\n" * 650_000  # about 10 MB
        conversation_id = next(iter(emulator.data.conversations))
        message = emulator.data.add_message(conversation_id, actor_type="user", message_parts=[{"text": {"content": text}}])
        run = read_reports(emulator, tmp_path, ["chat_transcript"], start_date=days_ago(2))
    assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
    (record,) = [record for record in run.records("chat_transcript") if record["message_id"] == message["id"]]
    assert record["message_parts"] == [{"text": {"content": text}}]
