"""The emulator's rate windows in each reading Freshchat leaves open: when a window opens, how its reset rounds, another client.

The connector's tests of the same readings are in integration_tests/test_rate_readings.py.
"""

import math
import time

import pytest
import requests

from integration_tests.emulator import Behaviour, FreshchatEmulator


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
