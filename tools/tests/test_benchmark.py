"""The benchmark's own logic on tiny accounts: its cost formula, its truth, its emulator launcher and one run of each kind.

Nothing here measures speed; a tiny scenario only has to run and report what the data holds.
"""

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from integration_tests.emulator import Dataset
from tools import benchmark
from tools.benchmark import EmulatorProcess, Scenario, compare, expected_ids, minimum_requests, pages


def test_pages_counts_an_empty_list_as_one_request():
    assert [pages(n) for n in (0, 1, 50, 51, 100, 101)] == [1, 1, 1, 2, 2, 3]


def test_minimum_of_a_tiny_account_by_hand():
    # 3 users x 2 conversations x 60 messages: every conversation needs two message pages.
    minimum = minimum_requests(Dataset(seed=3, users=3, conversations_per_user=2, messages_per_conversation=60))
    assert minimum == {
        "GET /v2/accounts/configuration": 1,
        "GET /v2/users": 1,
        "GET /v2/users/{id}/conversations": 3,
        "GET /v2/conversations/{id}": 6,
        "GET /v2/conversations/{id}/messages": 12,
        "GET /v2/conversations/fields": 1,
        "GET /v2/agents": 2,  # 57 agents
        "GET /v2/groups": 1,
        "GET /v2/channels": 1,
        "GET /v2/roles": 1,
        "GET /v2/outbound-messages": 1,
    }
    assert sum(minimum.values()) == 30


def test_minimum_counts_conversations_once_and_empty_threads_once():
    # 120 users: three user pages; every 5th user also lists its predecessor's conversation, which costs nothing more.
    data = Dataset(seed=5, users=120, conversations_per_user=1, messages_per_conversation=0)
    assert sum(len(ids) for ids in data.user_conversations.values()) == 120 + 24
    minimum = minimum_requests(data)
    assert minimum["GET /v2/users"] == 3
    assert minimum["GET /v2/users/{id}/conversations"] == 120
    assert minimum["GET /v2/conversations/{id}"] == 120
    assert minimum["GET /v2/conversations/{id}/messages"] == 120  # no messages still costs the one request that says so


def test_expected_ids_are_every_record_once():
    data = Dataset(seed=3, users=6, conversations_per_user=2, messages_per_conversation=4)
    ids = expected_ids(data)
    assert len(ids["users"]) == 6 and len(ids["conversations"]) == 12 and len(ids["messages"]) == 48
    assert len(ids["agents"]) == len(data.agents) and ids["account"] == [data.account["account_id"]]
    assert all(len(set(keys)) == len(keys) for keys in ids.values())


def test_compare_counts_lost_extra_and_duplicated_records():
    expected = {"users": ["a", "b", "c"], "messages": ["m"]}
    emitted = {"users": ["a", "a", "d"], "messages": ["m"], "roles": ["r"]}
    assert compare(emitted, expected) == (2, 2, 1)  # lost b, c; extra d, r; a twice


def test_command_line_values():
    assert benchmark.parse_rate_limits("none, 500/5") == [None, (500, 5.0)]
    assert benchmark.parse_workers("default,1,16") == [None, 1, 16]
    assert benchmark.parse_numbers("100,1_000") == [100, 1000]
    scenarios = benchmark.scenarios_of(benchmark.parse_args(["--sizes", "100", "--latencies", "0,50", "--rate-limits", "none"]))
    assert [(s.users, s.latency_ms, s.rate_limit, s.workers) for s in scenarios] == [
        (100, 0.0, None, None),
        (100, 0.0, None, 1),
        (100, 50.0, None, None),
        (100, 50.0, None, 1),
    ]
    quick = benchmark.scenarios_of(benchmark.parse_args([]))
    assert any(s.workers == 1 and s.latency_ms == 50 for s in quick) and any(s.rate_limit for s in quick)
    # every sequential quick run has a default-concurrency run in the same environment to compare with
    defaults = {s.environment for s in quick if s.workers is None}
    assert all(s.environment in defaults for s in quick if s.workers == 1)


def get(url: str, ca_bundle: str, api_key: str = benchmark.API_KEY) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=ca_bundle)) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_launched_emulator_applies_faults_and_reports_its_counters():
    with EmulatorProcess(3, 1, 1, error_rate=1.0) as emulator:
        assert get(emulator.url + "/v2/accounts/configuration", emulator.ca_bundle) in (500, 502, 503)
        counts = emulator.counts()
        assert counts["requests"] == {"GET /v2/accounts/configuration": 1}
        assert sum(counts["statuses"].values()) == 1 and set(counts["statuses"]) <= {"500", "502", "503"}
    with EmulatorProcess(3, 1, 1, rate_limit=(1, 60)) as emulator:
        assert [get(emulator.url + "/v2/roles", emulator.ca_bundle) for _ in range(2)] == [200, 429]
        assert emulator.counts()["statuses"] == {"200": 1, "429": 1}


def test_the_launched_emulator_serves_the_dataset_built_here():
    with EmulatorProcess(4, 2, 3, seed=9) as emulator:
        request = urllib.request.Request(
            emulator.url + "/v2/users?created_from=2000-01-01T00:00:00.000Z&items_per_page=50",
            headers={"Authorization": f"Bearer {benchmark.API_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=emulator.ca_bundle)) as response:
            served = [user["id"] for user in json.load(response)["users"]]
    assert sorted(served) == sorted(Dataset(9, 4, 2, 3).users)


@pytest.fixture
def report():
    lines = []
    yield lines.append


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_rss_is_the_childs_own_not_the_benchmark_process_that_forked_it():
    ballast = b"x" * (200 << 20)  # this process now holds 200 MB; a child's rusage would start from it
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    _, _, peak_kb = benchmark._wait(child, time.perf_counter() + 30)
    assert 0 < peak_kb < (100 << 10), f"{peak_kb} kB for a bare interpreter"
    assert len(ballast) == 200 << 20


def test_a_tiny_matrix_reports_every_record_and_at_least_the_minimum(tmp_path, report):
    scenarios = [Scenario(5, workers=workers, conversations_per_user=2, messages_per_conversation=3) for workers in (None, 1)]
    results = benchmark.run_matrix(scenarios, tmp_path, report)
    data = Dataset(benchmark.SEED, 5, 2, 3)
    for result in results:
        assert result.sync.returncode == 0 and not result.sync.errors, result.sync.stderr_tail
        assert result.sync.records == result.expected == sum(len(records) for records in map(data.records, expected_ids(data)))
        assert result.lost == result.extra == result.duplicates == 0
        assert result.requests >= result.minimum == sum(minimum_requests(data).values())
        assert result.sync.peak_rss_mb > 0 and result.sync.wall_seconds > 0
        # over TLS, each sync reuses its connections: at most one per worker and the user-list reader, with no pool warnings
        workers = result.scenario.workers or benchmark.DEFAULT_NUM_WORKERS
        assert 1 <= result.connections <= workers + 2 and result.sync.pool_warnings == 0
    default_run = results[0]
    assert default_run.scenario.compares_with_bare_client and default_run.bare_cpu_per_request_ms > 0
    assert any("bare requests.Session" in line for line in benchmark.notes(results))
    assert results[0].speedup is not None and results[1].speedup is not None  # the sequential row compares with itself: 1.0
    table = benchmark.table(results)
    assert len(table.splitlines()) == 2 + len(results) and "speed-up" in table


def test_a_tiny_soak_loses_nothing_and_every_retry_is_in_the_logs(tmp_path, report):
    result = benchmark.run_soak(5, 0.1, (10_000, 1.0), tmp_path, report=report)
    assert result.sync.returncode == 0 and not result.sync.errors, result.sync.stderr_tail
    assert result.lost == result.extra == 0 and result.retries > 0
    assert result.sync.retry_logs == result.retries


def test_a_tiny_incremental_run_carries_the_changes_made_after_the_full_run(tmp_path, report):
    first, second = benchmark.run_incremental(10, tmp_path, fraction=0.2, new_messages=2, report=report)
    assert first.lost == 0 and first.sync.returncode == 0
    assert second.sync.returncode == 0 and not second.sync.errors, second.sync.stderr_tail
    assert second.expected == 2 + 2 + 2  # two users updated, two messages added to two conversations
    assert second.lost == 0 and second.before is first
    assert any("for the full sync before it" in line for line in benchmark.notes([first, second]))


def test_every_part_of_a_run_uses_the_account_shape_of_the_command_line(monkeypatch, tmp_path):
    shapes = {}

    def recorder(part, returned):
        def record(*args, **kwargs):
            shapes[part] = (kwargs.get("conversations_per_user"), kwargs.get("messages_per_conversation"))
            return returned

        return record

    def run_matrix(scenarios, *args, **kwargs):
        shapes["matrix"] = {(scenario.conversations_per_user, scenario.messages_per_conversation) for scenario in scenarios}
        return []

    monkeypatch.setattr(benchmark, "measure_startup", lambda workdir: benchmark.Startup(0.0, 0.0, 0.0, 0.0, []))
    monkeypatch.setattr(benchmark, "run_matrix", run_matrix)
    monkeypatch.setattr(benchmark, "run_incremental", recorder("incremental", []))
    monkeypatch.setattr(benchmark, "run_soak", recorder("soak", None))
    monkeypatch.setattr(benchmark, "table", lambda results, startup_cpu_seconds: "")
    monkeypatch.setattr(benchmark, "notes", lambda results, startup_cpu_seconds: [])
    benchmark.main(
        "--sizes 10 --latencies 0 --workers 1 --rate-limits none --soak --conversations-per-user 3 --messages-per-conversation 50".split()
    )
    assert shapes == {"matrix": {(3, 50)}, "incremental": (3, 50), "soak": (3, 50)}


def test_a_rate_limited_tiny_run_reports_its_use_of_the_limit_without_429s(tmp_path, report):
    (result,) = benchmark.run_matrix(
        [Scenario(5, rate_limit=(10, 1.0), conversations_per_user=2, messages_per_conversation=3)], tmp_path, report
    )
    assert result.sync.returncode == 0 and result.lost == 0 and result.throttled == 0, result.sync.stderr_tail
    assert result.requests > 2 * 10  # it spans several windows
    assert 0 < result.limit_use <= 1.0


def test_rate_in_full_windows_counts_the_time_between_windows_against_the_client():
    back_to_back = [0.0, 0.1, 0.2, 1.0, 1.1, 2.0]  # windows of 1 s opening at 0, 1 and 2: 5 requests in 2 s
    assert benchmark.rate_in_full_windows(back_to_back, 1.0) == 2.5
    late = [0.0, 0.1, 0.2, 1.5, 1.6, 3.0]  # the same requests, each window opened half a second late
    assert benchmark.rate_in_full_windows(late, 1.0) == pytest.approx(5 / 3.0)
    assert benchmark.rate_in_full_windows([0.0, 0.5], 1.0) is None


def test_import_times_name_the_modules_the_entry_point_loads():
    names = [name for name, _ in benchmark.import_times()]
    assert {"source_freshchat.run", "airbyte_cdk", "requests"} <= set(names)


# The four readings of Freshchat's rate windows, as integration_tests/test_rate_readings.py plays them.
READINGS = [(opens, rounding) for opens in ("first_request", "clock") for rounding in ("up", "down")]


def test_the_benchmark_counts_the_clock_windows_a_sync_left_unused():
    assert benchmark.unused_clock_windows([0.1, 0.5, 2.2, 3.9], 1.0) == 1  # 0, 2 and 3 took requests; 1 none
    assert benchmark.unused_clock_windows([], 1.0) == 0


def test_the_benchmark_syncs_each_reading_with_whole_windows_shorter_ones_and_another_client():
    scenarios = benchmark.reading_scenarios(300, 20.0, (500, 5.0))
    assert len(scenarios) == 12 and {(s.reading.opens, s.reading.rounding) for s in scenarios} == set(READINGS)
    assert {(s.rate_limit, s.reading.spent_by_others) for s in scenarios} == {((500, 5.0), 0), ((500, 4.5), 0), ((500, 5.0), 100)}
    assert benchmark.parse_args(["--only", "readings"]).only == "readings"
