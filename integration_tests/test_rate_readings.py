"""Freshchat's rate windows, read each way no document rules out: the emulator serves each reading, and a sync meets at most 2 429s.

Freshchat does not document when a window opens (at the first request after the last one
ended, or on the clock's multiples of its length) and how `X-RateLimit-Reset` rounds its end. The
connector learns which holds from the sync's own answers; these tests hold it to the issue's bound of
two 429s per sync, over several short windows, with every record read. Speed is `make benchmark`'s.
"""

import math
import time

import pytest
import requests

from .emulator import Behaviour, FreshchatEmulator
from .harness import STREAMS, by_key, configured_catalog, reachable_records, run_connector

LIMIT = 40
READINGS = [(opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down")]


def _get(emulator: FreshchatEmulator) -> requests.Response:
    return requests.get(emulator.url + "/v2/roles", headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=10)


def _headers(emulator: FreshchatEmulator) -> dict:
    return _get(emulator).headers


def _at_fraction(fraction: float, window: float) -> None:
    """Sleeps until the clock is `fraction` of the way into a window of `window` seconds counted from the epoch."""
    time.sleep((fraction * window - time.time() % window) % window)


@pytest.mark.parametrize("rounding", ["up", "down"])
def test_the_emulator_rounds_the_reset_as_told(rounding):
    with FreshchatEmulator(seed=1, users=1, behaviour=Behaviour(rate_limit=5, rate_limit_window_seconds=2.5)) as emulator:
        emulator.behaviour.rate_limit_reset_rounding = rounding
        _at_fraction(0.1, 1.0)  # the window then ends 2.5 s later, half a second from any whole second
        opened = time.time()
        reset = int(_headers(emulator)["X-RateLimit-Reset"])
    assert reset == (math.ceil if rounding == "up" else math.floor)(opened + 2.5)


def test_windows_on_the_clock_open_on_multiples_of_their_length_and_not_at_a_request():
    with FreshchatEmulator(seed=1, users=1, behaviour=Behaviour(rate_limit=5, rate_limit_window_seconds=2.0)) as emulator:
        emulator.behaviour.rate_limit_window_opens = "clock"
        _at_fraction(0.75, 2.0)  # 1.5 s into a window of the clock
        first = _headers(emulator)
        _at_fraction(0.1, 2.0)  # just past the next multiple: a fresh window, though the last one opened 0.7 s ago
        second = _headers(emulator)
    assert int(first["X-RateLimit-Reset"]) % 2 == 0 and first["X-RateLimit-Remaining"] == "4"
    assert int(second["X-RateLimit-Reset"]) == int(first["X-RateLimit-Reset"]) + 2 and second["X-RateLimit-Remaining"] == "4"


def test_another_client_spends_its_share_of_every_window():
    behaviour = Behaviour(rate_limit=5, rate_limit_window_seconds=60.0, rate_limit_spent_by_others=3)
    with FreshchatEmulator(seed=1, users=1, behaviour=behaviour) as emulator:
        answers = [_get(emulator) for _ in range(3)]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]  # 3 of 5 spent as the window opened
    assert [answer.status_code for answer in answers] == [200, 200, 429]


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
