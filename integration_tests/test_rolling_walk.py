"""The rolling walk end to end: the installed connector against the emulator, syncs a simulated few hours apart.

After a first (full) walk, each feed sync walks the next slice of users. Time between syncs is simulated by moving every
moment the state records into the past (`later`), so that a cycle of a day runs in a few syncs.
"""

from datetime import timedelta

from .emulator import Behaviour, FreshchatEmulator
from .harness import configured_catalog, later, run_connector, wait_for_the_next_second
from .test_incremental import read_until_checkpoint

FAN_OUT = ["users", "conversations", "messages"]
LISTING = "GET /v2/users/{id}/conversations"
# 200 users with a conversation each: a walk of about 400 requests, so `auto` follows the feed. With a cycle of a day and
# syncs a little under 6 hours apart, each slice is a quarter of the users.
USERS = 200
ACCOUNT = dict(seed=53, users=USERS, conversations_per_user=1, messages_per_conversation=2, recent=True)
SYNC_INTERVAL = timedelta(hours=6) - timedelta(minutes=1)  # a slice's size is rounded up: the minute keeps it at 50


def users_in_order(data):
    return sorted(data.users, key=lambda user_id: data.users[user_id]["created_time"])


class Account:
    """An emulated account after its first sync, and the syncs that follow, each `by` after the last."""

    def __init__(self, emulator, tmp_path, streams=FAN_OUT, **config):
        self.emulator, self.tmp_path = emulator, tmp_path
        self.config = emulator.config(full_walk_interval_days=1, **config)
        self.catalog = configured_catalog(tmp_path, self.config, streams, incremental=True)
        first = run_connector(tmp_path, "read", self.config, self.catalog)
        assert first.returncode == 0 and not first.errors(), first.stderr[-2000:]
        self.state = first.final_state()

    def sync(self, by=SYNC_INTERVAL, **config):
        self.emulator.reset_counters()
        run = run_connector(self.tmp_path, "read", {**self.config, **config}, self.catalog, state=later(self.state, by))
        assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
        self.state = run.final_state()
        return run

    def listed_users(self):
        """The users whose conversations the last sync listed."""
        return {path.split("/")[3] for method, path, *_ in self.emulator.request_log if path.endswith("/conversations")}

    def rolling(self, stream="conversations"):
        states = {entry["stream"]["stream_descriptor"]["name"]: entry["stream"]["stream_state"] for entry in self.state}
        return states[stream]["discovery"]["rolling"]


def rolling_lines(run):
    return [line for line in run.logs() if line.startswith("rolling walk:")]


def edited(run, conversation_id, value):
    return any(
        r["conversation_id"] == conversation_id and (r.get("properties") or {}).get("priority") == value
        for r in run.records("conversations")
    )


def test_a_cycle_finds_every_property_only_edit_in_its_slice_then_wraps_round_and_finds_later_ones(tmp_path):
    with FreshchatEmulator(**ACCOUNT, behaviour=Behaviour(report_pending_polls=0)) as emulator:
        account = Account(emulator, tmp_path)
        data = emulator.data
        users = users_in_order(data)
        conversation_of = {index: data.user_conversations[users[index]][0] for index in (10, 60, 120, 190)}
        for conversation_id in conversation_of.values():
            data.update_conversation(conversation_id, properties={"priority": "before-the-cycle"})

        for number, index in enumerate(conversation_of):  # one slice of 50 users a sync, in created_time order
            run = account.sync()
            assert account.listed_users() == set(users[50 * number : 50 * (number + 1)])
            assert emulator.request_counts[LISTING] == 50
            assert [edited(run, conversation_id, "before-the-cycle") for conversation_id in conversation_of.values()] == [
                slice_index == index for slice_index in conversation_of
            ]
            assert (
                f"rolling walk: users {50 * number + 1}–{50 * (number + 1)} of ~{USERS} (cycle 1, {25 * (number + 1)}% done"
                in (rolling_lines(run)[0])
            )
            if number == 0:  # edited again once its slice has passed: the next cycle must find it
                data.update_conversation(conversation_of[10], properties={"priority": "during-the-cycle"})
        assert account.rolling()["cycle"] == 2 and account.rolling()["walked_through"] is None

        wrapped = account.sync()
        assert account.listed_users() == set(users[:50])
        assert "users 1–50 of ~200 (cycle 2, 25% done" in rolling_lines(wrapped)[0]
        assert edited(wrapped, conversation_of[10], "during-the-cycle")


def test_users_created_during_a_cycle_reach_the_sync_through_conversation_created_and_join_the_next_cycle(tmp_path):
    with FreshchatEmulator(**ACCOUNT, behaviour=Behaviour(report_pending_polls=0)) as emulator:
        account = Account(emulator, tmp_path)
        data = emulator.data
        newcomer = data.add_user()
        conversation = data.add_conversation(newcomer["id"])
        message = data.add_message(conversation["conversation_id"], actor_type="user")
        wait_for_the_next_second()

        run = account.sync()
        assert newcomer["id"] not in account.listed_users()  # the slice is the first 50 users, not the newest
        assert conversation["conversation_id"] in {record["conversation_id"] for record in run.records("conversations")}
        assert message["id"] in {record["id"] for record in run.records("messages")}

        for _ in range(2):
            account.sync()
        account.sync(by=timedelta(hours=7))  # a longer gap, a larger slice: the last one takes every user left, the newcomer too
        assert newcomer["id"] in account.listed_users()
        discovery = {entry["stream"]["stream_descriptor"]["name"]: entry["stream"]["stream_state"] for entry in account.state}
        assert discovery["conversations"]["discovery"]["walk_users"] == USERS + 1  # the account's size, as the cycle found it


def test_a_sync_killed_during_a_slice_resumes_that_slice_with_nothing_lost_or_skipped(tmp_path):
    users = 300  # one slice of every user (a day since the last sync), so the slice checkpoints after 200 of them
    with FreshchatEmulator(**{**ACCOUNT, "users": users}, behaviour=Behaviour(report_pending_polls=0)) as emulator:
        account = Account(emulator, tmp_path, streams=["conversations"])
        data = emulator.data
        order = users_in_order(data)
        targets = [data.user_conversations[order[index]][0] for index in (20, 150, 199, 200, 260)]
        for conversation_id in targets:
            data.update_conversation(conversation_id, properties={"priority": "edited"})

        emulator.reset_counters()
        by_a_day = later(account.state, timedelta(hours=24) - timedelta(minutes=1))
        killed_records, killed_state = read_until_checkpoint(tmp_path, account.config, account.catalog, "conversations", by_a_day)
        checkpoint = killed_state[0]["stream"]["stream_state"]
        slice_through = checkpoint["discovery"]["rolling"]["slice_through"]
        assert checkpoint["resume"]["after_user_created"] == data.users[order[199]]["created_time"]
        assert slice_through == data.users[order[-1]]["created_time"]

        emulator.reset_counters()
        resumed = run_connector(tmp_path, "read", account.config, account.catalog, killed_state)
        assert resumed.returncode == 0 and not resumed.errors(), resumed.stderr[-2000:]
        assert any("slice resumed" in line for line in rolling_lines(resumed))
        user_filters = [query for method, path, query, *_ in emulator.request_log if path == "/v2/users"]
        assert user_filters[0]["created_from"] == checkpoint["resume"]["after_user_created"]
        assert user_filters[0]["created_to"] == slice_through
        assert emulator.request_counts[LISTING] == users - 200 + 1  # from the checkpoint's user on, not from the first

        emitted = {
            record["conversation_id"]
            for record in killed_records.get("conversations", []) + resumed.records("conversations")
            if (record.get("properties") or {}).get("priority") == "edited"
        }
        assert emitted == set(targets)
        rolling = resumed.final_state()[0]["stream"]["stream_state"]["discovery"]["rolling"]
        assert rolling["cycle"] == 2 and rolling["slice_through"] is None
        assert "resume" not in resumed.final_state()[0]["stream"]["stream_state"]


def test_a_changed_full_walk_interval_resizes_the_next_slices(tmp_path):
    with FreshchatEmulator(**{**ACCOUNT, "users": 300}, behaviour=Behaviour(report_pending_polls=0)) as emulator:
        account = Account(emulator, tmp_path, streams=["conversations"])
        a_day = timedelta(hours=24) - timedelta(minutes=1)
        weekly = account.sync(by=a_day, full_walk_interval_days=7)  # 300 users over a week, a day apart: 43, so the floor of 50
        assert emulator.request_counts[LISTING] == 50 and "users 1–50 of ~300" in rolling_lines(weekly)[0]
        every_two_days = account.sync(by=a_day, full_walk_interval_days=2)  # half the users a day
        assert emulator.request_counts[LISTING] == 150 and "users 51–200 of ~300" in rolling_lines(every_two_days)[0]
