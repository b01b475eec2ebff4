"""The mutation check's operators: each makes the mutant it promises, and nothing it should not."""

import textwrap
from typing import Dict

from tools import mutation
from tools.mutation import END_TO_END, MODULE_TESTS, ROOT, mutants_of, own_unit_tests


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
