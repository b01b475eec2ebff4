"""The mutation check's operators: each makes the mutant it promises, and nothing it should not."""

import textwrap
from typing import Dict

import pytest

from tools import mutation
from tools.mutation import END_TO_END, MODULE_TESTS, ROOT, LineRecorder, UnitCoverage, mutants_of, own_unit_tests


def mutated(snippet: str, kind: str) -> Dict[str, str]:
    """{description: the function's mutated source} of every mutant of one kind in `snippet`."""
    source = textwrap.dedent(snippet).encode()
    return {
        mutant.description: mutant.apply(source).decode()
        for mutant in mutants_of("snippet.py", source)
        if mutant.description.startswith(kind + " ")
    }


def test_a_type_checking_guard_is_not_negated_but_other_names_are():
    snippet = """
        if TYPE_CHECKING:
            from x import Y
        if DEBUG:
            print(1)
    """
    assert list(mutated(snippet, "negate")) == ["negate `DEBUG` -> `not DEBUG`"]


def test_min_and_max_swap_and_so_do_any_and_all():
    snippet = """
        def f(xs):
            return min(xs, default=0), max(xs), any(xs), all(xs), sorted(xs)
    """
    assert mutated(snippet, "call") == {
        "call `min(xs, default=0)` -> `max(xs, default=0)`": snippet_with("(max(xs, default=0)), max(xs), any(xs), all(xs)"),
        "call `max(xs)` -> `min(xs)`": snippet_with("min(xs, default=0), (min(xs)), any(xs), all(xs)"),
        "call `any(xs)` -> `all(xs)`": snippet_with("min(xs, default=0), max(xs), (all(xs)), all(xs)"),
        "call `all(xs)` -> `any(xs)`": snippet_with("min(xs, default=0), max(xs), any(xs), (any(xs))"),
    }


def snippet_with(calls: str) -> str:
    return f"\ndef f(xs):\n    return {calls}, sorted(xs)\n"


def test_a_number_becomes_one_more_and_one_less_and_a_float_is_also_doubled():
    assert mutated("x = 5\ny = 2.5\nz = -1\n", "constant") == {
        "constant `5` -> `6`": "x = 6\ny = 2.5\nz = -1\n",
        "constant `5` -> `4`": "x = 4\ny = 2.5\nz = -1\n",
        "constant `2.5` -> `5.0`": "x = 5\ny = 5.0\nz = -1\n",
        "constant `2.5` -> `1.5`": "x = 5\ny = 1.5\nz = -1\n",
        "constant `1` -> `2`": "x = 5\ny = 2.5\nz = -2\n",
        "constant `1` -> `0`": "x = 5\ny = 2.5\nz = -0\n",
    }


def test_a_number_one_less_below_zero_stays_one_negative_number():
    assert mutated("x = y - 0\n", "constant")["constant `0` -> `-1`"] == "x = y - (-1)\n"


def test_each_keyword_argument_is_dropped_on_its_own():
    snippet = "def f(options):\n    return g(1, timeout=(10, 60), **options)\n"
    assert mutated(snippet, "drop keyword") == {
        "drop keyword `timeout=(10, 60)` of `g(...)`": "def f(options):\n    return (g(1, **options))\n",
        "drop keyword `**options` of `g(...)`": "def f(options):\n    return (g(1, timeout=(10, 60)))\n",
    }


def test_a_call_without_keywords_or_a_swapped_builtin_has_no_call_mutants():
    snippet = "def f(xs):\n    return sorted(xs), xs.min()\n"
    assert mutated(snippet, "call") == {} and mutated(snippet, "drop keyword") == {}


def test_every_mutant_of_the_new_operators_compiles():
    snippet = """
        def f(xs, n):
            return max(min(xs, key=abs), n - 1, default=0.5)
    """
    mutants = {**mutated(snippet, "call"), **mutated(snippet, "drop keyword"), **mutated(snippet, "constant")}
    assert len(mutants) == 2 + 2 + 4
    for source in mutants.values():
        compile(source, "snippet.py", "exec")


def test_a_modules_own_unit_tests_mirror_the_package_or_else_keep_the_flat_names(tmp_path, monkeypatch):
    for name in ("extract/test_jobs.py", "extract/__init__.py", "test_extract.py", "test_config.py", "test_parents.py", "test_streams.py"):
        (tmp_path / "unit_tests" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "unit_tests" / name).touch()
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    assert own_unit_tests("source_freshchat/extract/jobs.py") == ["unit_tests/extract/test_jobs.py"]
    assert own_unit_tests("source_freshchat/extract/download.py") == ["unit_tests/test_extract.py"]
    assert own_unit_tests("source_freshchat/extract/__init__.py") == ["unit_tests/extract"]
    assert own_unit_tests("source_freshchat/config.py") == ["unit_tests/test_config.py"]
    assert own_unit_tests("source_freshchat/streams/parents.py") == ["unit_tests/test_parents.py", "unit_tests/test_streams.py"]
    assert own_unit_tests("source_freshchat/streams/users.py") == ["unit_tests/test_streams.py"]
    assert own_unit_tests("source_freshchat/__init__.py") == [] and own_unit_tests("source_freshchat/sync.py") == []


def test_every_integration_file_the_check_runs_exists():
    named = {path for paths in (*MODULE_TESTS.values(), END_TO_END) for path in paths}
    assert sorted(path for path in named if not (ROOT / path).is_file()) == []


def test_the_recorder_names_the_package_lines_each_test_runs_in_any_thread(tmp_path, monkeypatch):
    package = tmp_path / "recorded_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "import threading\n"
        "\n"
        "def double(x):\n"
        "    return x * 2\n"
        "\n"
        "def in_thread(x):\n"
        "    out = []\n"
        "    worker = threading.Thread(target=lambda: out.append(double(x)))\n"
        "    worker.start()\n"
        "    worker.join()\n"
        "    return out[0]\n"
    )
    (tmp_path / "test_recorded.py").write_text(
        "from recorded_pkg.mod import double, in_thread\n"
        "\n"
        "def test_double():\n"
        "    assert double(2) == 4\n"
        "\n"
        "def test_thread():\n"
        "    assert in_thread(3) == 6\n"
        "\n"
        "def test_nothing():\n"
        "    assert True\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recorder = LineRecorder(package)
    recorder.start()
    try:
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), str(tmp_path)], plugins=[recorder])
    finally:
        recorder.stop()
    assert code == 0
    module = str(package / "mod.py")
    lines = {test.rpartition("::")[2]: sorted(line for name, line in hits if name == module) for test, hits in recorder.lines.items()}
    assert lines == {"test_double": [3, 4], "test_thread": [3, 4, 6, 7, 8, 9, 10, 11], "test_nothing": []}


class TracedSandbox:
    def __init__(self, lines_by_test):
        self.lines_by_test = lines_by_test
        self.traces = 0

    def trace(self, test_files):
        self.traces += 1
        return self.lines_by_test


def test_a_mutant_first_meets_the_tests_that_run_any_of_its_lines_in_the_order_they_ran():
    source = b"def f(x):\n    return g(\n        x, key=1\n    )\n"
    mutant = next(m for m in mutants_of("pkg/mod.py", source) if m.description.startswith("delete"))
    sandbox = TracedSandbox(
        {
            "t::first": [("pkg/mod.py", 3)],
            "t::elsewhere": [("pkg/other.py", 2)],
            "t::second": [("pkg/mod.py", 2), ("pkg/mod.py", 3)],
            "t::header_only": [("pkg/mod.py", 1)],
            "t::third": [("pkg/mod.py", 4)],
        }
    )
    coverage = UnitCoverage()
    assert list(mutant.lines(source)) == [2, 3, 4]
    assert coverage.tests_of(mutant, source, sandbox) == ["t::first", "t::second", "t::third"]
    assert coverage.tests_of(mutant, source, sandbox) == ["t::first", "t::second", "t::third"] and sandbox.traces == 1


def test_a_mutant_meets_its_line_tests_then_every_unit_test_then_its_integration_files():
    module = "source_freshchat/rate_limit.py"
    unit = mutation.tests_for(module, unit_only=True)[0]
    covering = ["unit_tests/test_rate_limit.py::test_one"]
    assert mutation.runs_for(module, covering, unit_only=False, line_tests_only=False) == [
        ("unit tests that run its line", covering, unit),
        ("unit tests", unit, unit),
        ("integration tests", MODULE_TESTS[module], MODULE_TESTS[module]),
    ]
    assert [run[0] for run in mutation.runs_for(module, [], unit_only=False, line_tests_only=False)] == ["unit tests", "integration tests"]
    assert [run[0] for run in mutation.runs_for(module, covering, unit_only=True, line_tests_only=False)] == [
        "unit tests that run its line",
        "unit tests",
    ]


def test_the_line_tests_triage_runs_only_the_line_tests_unless_no_test_runs_the_line():
    module = "source_freshchat/rate_limit.py"
    unit = mutation.tests_for(module, unit_only=True)[0]
    covering = ["unit_tests/test_rate_limit.py::test_one"]
    assert mutation.runs_for(module, covering, unit_only=False, line_tests_only=True) == [("unit tests that run its line", covering, unit)]
    assert mutation.runs_for(module, [], unit_only=False, line_tests_only=True) == [("unit tests", unit, unit)]
