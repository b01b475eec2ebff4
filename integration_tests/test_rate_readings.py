"""Freshchat's rate windows, read each way no document rules out: in each reading the emulator serves, a sync meets at most 2 429s.

Freshchat does not document when a window opens (at the first request after the last one
ended, or on the clock's multiples of its length) and how `X-RateLimit-Reset` rounds its end. The
connector learns which holds from the sync's own answers; these tests hold it to the issue's bound of
two 429s per sync, over several short windows, with every record read. Speed is `make benchmark`'s.
"""

import time

import pytest

from .emulator import Behaviour, FreshchatEmulator
from .harness import STREAMS, by_key, configured_catalog, reachable_records, run_connector

LIMIT = 40
READINGS = [(opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down")]


@pytest.mark.parametrize(
    "window_seconds,spent_by_others",
    [(2.0, 0), (2.5, LIMIT // 4)],
    ids=["whole-seconds", "half-second-and-another-client"],
)
@pytest.mark.parametrize("opens,rounding", READINGS, ids=[f"{opens}-{rounding}" for opens, rounding in READINGS])
def test_a_sync_meets_at_most_two_429s_in_every_reading(tmp_path, opens, rounding, window_seconds, spent_by_others):
    behaviour = Behaviour(
        rate_limit=LIMIT,
        rate_limit_window_seconds=window_seconds,
        rate_limit_window_opens=opens,
        rate_limit_reset_rounding=rounding,
        rate_limit_spent_by_others=spent_by_others,
    )
    with FreshchatEmulator(seed=13, users=40, conversations_per_user=1, messages_per_conversation=3, behaviour=behaviour) as emulator:
        config = emulator.config()
        catalog = configured_catalog(tmp_path, config)
        time.sleep(window_seconds)  # discovery's requests are another window's
        emulator.reset_counters()
        run = run_connector(tmp_path, "read", config, catalog)
        assert run.returncode == 0 and not run.errors()
        learned = [line for line in run.logs() if "Freshchat" in line and ("rate limit" in line or "refused" in line)]
        assert sum(emulator.request_counts.values()) > 3 * LIMIT  # the limit really was binding, several windows over
        assert emulator.status_counts[429] <= 2, learned
        for stream in STREAMS:
            assert by_key(run.records(stream), stream) == by_key(reachable_records(emulator, stream), stream)
