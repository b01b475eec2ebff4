"""The REST probes of `diagnose`: the rate window's length and opening, read from made-up readings;
end to end: integration_tests/test_diagnose.py."""

from source_freshchat.diagnose.rest import Reading, window_timing


def reading(sent: float, reset: float, remaining: int = 99, limit: int = 100, round_trip: float = 0.05) -> Reading:
    return Reading(sent, sent + round_trip, limit, remaining, reset)


def test_two_windows_that_last_as_long_from_their_opening_request_open_at_the_first_request():
    # 60 s windows opened by the request, resets rounded up: 1000.3 + 60 -> 1061; 1091.35 + 60 -> 1152
    opener, later = reading(1000.3, 1061), reading(1091.35, 1152)
    assert window_timing("up", opener, later, offset=30) == {
        "window_opens": "at the first request",
        "window_seconds": 60,
        "window_seconds_range": [59.65, 60.65],
    }


def test_a_window_opened_later_in_its_beat_that_ends_sooner_opens_on_the_clock():
    opener, later = reading(1020.05, 1080), reading(1110.05, 1140)  # both windows end on multiples of 60
    assert window_timing("up", opener, later, offset=30) == {"window_opens": "on the clock", "window_seconds": 60}
    opener, later = reading(1021.05, 1081), reading(1111.05, 1141)  # a fixed beat, not on multiples of its length
    assert window_timing("up", opener, later, offset=30)["window_opens"] == "at fixed moments"


def test_a_reset_rounded_down_bounds_the_window_from_the_other_side():
    opener = reading(1000.3, 1060)  # 1060.3 rounded down
    finding = window_timing("down", opener, None, offset=30)
    assert finding == {"window_opens": "not measured", "window_seconds": 60, "window_seconds_range": [59.65, 60.7]}


def test_a_window_not_a_whole_number_of_seconds_is_given_by_its_bounds():
    opener = reading(1000.0, 1003, round_trip=0.01)  # 2.5 s windows: 1002.5 rounded up
    assert window_timing("up", opener, None, offset=1.5) == {
        "window_opens": "not measured",
        "window_seconds": 2.5,
        "window_seconds_range": [1.99, 3.0],
    }
