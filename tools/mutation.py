"""The mutation check (`make mutation`): how many small faults in source_freshchat/ the tests catch, per module.

Each mutant is one small change to one module: a flipped comparison, a negated condition, `and`
swapped for `or`, `min` for `max` or `any` for `all` (and back), a deleted statement or return inside a
function, a number one more or one less (a float also doubled), a flipped boolean, a dropped keyword argument.
It is run first against the unit tests that run its line (found by tracing the unit tests once per check),
then (if it survived them) against every unit test, then against the integration test files of its module;
a mutant that fails a test or times out is killed. The first run only finds kills sooner: a mutant that
survives it still meets every test the check always ran. A module's score is the share of
its mutants killed among those that change behaviour: mutants listed in mutation_equivalents.txt,
each with the reason it changes nothing, are left out of the score, never hidden by running fewer tests.

The tests run against a copy of the working tree (PYTHONPATH points at it, so the `source-freshchat`
processes the integration tests start import the mutated copy too): the worktree itself is never edited.

    python -m tools.mutation [MODULE ...] [--jobs N]
"""

import argparse
import ast
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "source_freshchat"
EQUIVALENTS_FILE = Path(__file__).with_name("mutation_equivalents.txt")
UNIT_TESTS = ["unit_tests"]
# The integration files that exercise each module beyond the unit tests; a module not named here (a new one) gets END_TO_END.
END_TO_END = [
    "integration_tests/test_end_to_end.py",
    "integration_tests/test_incremental.py",
    "integration_tests/test_faults.py",
    "integration_tests/test_bad_input.py",
]
WALK = ["integration_tests/test_incremental.py", "integration_tests/test_end_to_end.py"]
REPORTS = ["integration_tests/test_report_streams.py", "integration_tests/test_report_readings.py"]
EXTRACT = ["integration_tests/test_change_feed.py", *REPORTS]
DISCOVERY = ["integration_tests/test_change_feed.py", "integration_tests/test_rolling_walk.py", "integration_tests/test_report_readings.py"]
MODULE_TESTS: Dict[str, List[str]] = {
    **{f"source_freshchat/{name}.py": WALK for name in ("fanout", "concurrency", "discovery/walk")},
    **{f"source_freshchat/streams/{name}.py": WALK for name in ("users", "conversations", "messages")},
    **{
        f"source_freshchat/streams/{name}.py": ["integration_tests/test_end_to_end.py"]
        for name in ("account", "directory", "conversation_properties", "outbound_messages")
    },
    "source_freshchat/config.py": ["integration_tests/test_bad_input.py", "integration_tests/test_end_to_end.py"],
    "source_freshchat/run.py": [
        "integration_tests/test_bad_input.py",
        "integration_tests/test_end_to_end.py",
        "integration_tests/test_sigterm.py",
    ],
    "source_freshchat/source.py": ["integration_tests/test_bad_input.py", "integration_tests/test_end_to_end.py"],
    "source_freshchat/sync.py": END_TO_END,
    "source_freshchat/errors.py": ["integration_tests/test_faults.py"],
    "source_freshchat/rate_limit.py": [
        "integration_tests/test_faults.py",
        "integration_tests/test_end_to_end.py",
        "integration_tests/test_rate_readings.py",
    ],
    "source_freshchat/base.py": ["integration_tests/test_faults.py", "integration_tests/test_end_to_end.py"],
    "source_freshchat/state.py": ["integration_tests/test_incremental.py", "integration_tests/test_bad_input.py"],
    **{f"source_freshchat/extract/{name}.py": EXTRACT for name in ("jobs", "download", "payload", "times")},
    **{f"source_freshchat/discovery/{name}.py": DISCOVERY for name in ("change_feed", "plan")},
    "source_freshchat/discovery/rolling.py": ["integration_tests/test_rolling_walk.py"],
    "source_freshchat/streams/reports.py": REPORTS,
    "source_freshchat/streams/report_events.py": EXTRACT,  # the change feed reads its events' time columns too
    **{f"source_freshchat/diagnose/{name}.py": ["integration_tests/test_diagnose.py"] for name in ("common", "output", "reports", "rest")},
    "source_freshchat/progress.py": ["integration_tests/test_progress.py"],
}
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not image_tests"]
LOCAL_PACKAGES = {PACKAGE, "unit_tests", "integration_tests", "tools"}
PRELOADED = [
    "pytest",
    "requests_mock",
    "pytest_mock",
    "jsonschema",
    "airbyte_cdk.entrypoint",
    "airbyte_cdk.sources",
    "airbyte_cdk.test.entrypoint_wrapper",
]
NEGATED_COMPARISON = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
# Statements worth deleting: calls, yields, returns, raises, loop exits, and changes of state after construction.
# Deleting a local or a constructor's assignment only raises NameError or AttributeError: no test run needed to know.
DELETABLE = (ast.Expr, ast.Return, ast.Raise, ast.AugAssign, ast.Break, ast.Continue, ast.Assign, ast.AnnAssign)
SWAPPED_BUILTINS = {"min": "max", "max": "min", "any": "all", "all": "any"}
TIMED_OUT = "timed out after"
NOT_MUTATED_FIELDS = {"annotation", "returns", "type_comment", "decorator_list"}


@dataclass(frozen=True)
class Mutant:
    module: str  # path relative to the repo, e.g. source_freshchat/rate_limit.py
    scope: str  # qualified name of the enclosing function or class, or <module>
    description: str  # e.g. "compare `a < b` -> `a >= b`"
    line: int
    start: int  # byte offsets of the replaced source
    end: int
    replacement: bytes

    @property
    def ident(self) -> str:
        return f"{self.module}::{self.scope}::{self.description}"

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.replacement + source[self.end :]

    def lines(self, source: bytes) -> range:
        """The lines of `source` this mutant replaces."""
        return range(self.line, self.line + source[self.start : self.end].count(b"\n") + 1)


def _squash(text: str, limit: int = 90) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _MutantFinder:
    def __init__(self, module: str, source: bytes) -> None:
        self.module = module
        self.source = source
        self._line_starts = [0]
        for line in source.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(line))
        self.found: List[Mutant] = []
        self._scope: List[str] = []
        self._in_function = 0

    def offsets(self, node: ast.AST) -> Tuple[int, int]:
        return (
            self._line_starts[node.lineno - 1] + node.col_offset,  # ast columns are UTF-8 byte offsets
            self._line_starts[node.end_lineno - 1] + node.end_col_offset,
        )

    def text(self, node: ast.AST) -> str:
        start, end = self.offsets(node)
        return self.source[start:end].decode()

    def add(self, node: ast.AST, kind: str, replacement: str, shown: Optional[str] = None, description: Optional[str] = None) -> None:
        start, end = self.offsets(node)
        original = self.text(node)
        description = description or f"{kind} `{_squash(original)}` -> `{_squash(shown if shown is not None else replacement)}`"
        scope = ".".join(self._scope) or "<module>"
        self.found.append(Mutant(self.module, scope, description, node.lineno, start, end, replacement.encode()))

    def replace_expression(self, node: ast.expr, kind: str, mutated: ast.expr) -> None:
        code = ast.unparse(mutated)
        self.add(node, kind, f"({code})", shown=code)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.JoinedStr):
            return  # f-strings are messages: their wording is checked by tests that read them, not by mutants
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._scope.append(node.name)
            is_function = not isinstance(node, ast.ClassDef)
            self._in_function += is_function
            self.visit_body_and_children(node)
            self._in_function -= is_function
            self._scope.pop()
            return
        self.mutate(node)
        self.visit_body_and_children(node)

    def visit_body_and_children(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in NOT_MUTATED_FIELDS:
                continue
            children = value if isinstance(value, list) else [value]
            for position, child in enumerate(children):
                if not isinstance(child, ast.AST):
                    continue
                if isinstance(child, ast.stmt) and self._in_function and not _is_docstring(children, position):
                    self.delete_statement(child)
                if _is_docstring(children, position):
                    continue
                self.visit(child)

    def delete_statement(self, statement: ast.stmt) -> None:
        if not isinstance(statement, DELETABLE):
            return
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and (self._scope[-1] == "__init__" or _assigns_locals(statement)):
            return
        self.add(statement, "delete", "pass")

    def mutate(self, node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            for position, operator in enumerate(node.ops):
                flipped = list(node.ops)
                flipped[position] = NEGATED_COMPARISON[type(operator)]()
                self.replace_expression(node, "compare", ast.Compare(node.left, flipped, node.comparators))
        elif isinstance(node, ast.BoolOp):
            swapped = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.replace_expression(node, "boolean", ast.BoolOp(swapped, node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            self.add(node, "constant", repr(not node.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            changed = node.value + 1 if isinstance(node.value, int) or not node.value else node.value * 2
            self.add(node, "constant", repr(changed))
            lowered = repr(node.value - 1)
            self.add(node, "constant", f"({lowered})" if lowered.startswith("-") else lowered, shown=lowered)  # `a - 0` -> `a - (-1)`
        elif isinstance(node, ast.Call):
            self.mutate_call(node)
        for test in _conditions_of(node):
            # `if TYPE_CHECKING:` guards imports for annotations: run, they change nothing a test can see, or fail every test.
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                continue
            if not isinstance(test, (ast.Compare, ast.BoolOp)):  # those are flipped above
                self.replace_expression(test, "negate", ast.UnaryOp(ast.Not(), test))

    def mutate_call(self, call: ast.Call) -> None:
        if isinstance(call.func, ast.Name) and call.func.id in SWAPPED_BUILTINS:
            self.replace_expression(call, "call", ast.Call(ast.Name(SWAPPED_BUILTINS[call.func.id]), call.args, call.keywords))
        for keyword in call.keywords:
            kept = [other for other in call.keywords if other is not keyword]
            code = ast.unparse(ast.Call(call.func, call.args, kept))
            dropped = f"drop keyword `{_squash(self.text(keyword), 60)}` of `{_squash(ast.unparse(call.func), 40)}(...)`"
            self.add(call, "drop keyword", f"({code})", description=dropped)


def _conditions_of(node: ast.AST) -> List[ast.expr]:
    if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
        return [node.test]
    if isinstance(node, ast.comprehension):
        return list(node.ifs)
    return []


def _is_docstring(siblings: Sequence[object], position: int) -> bool:
    node = siblings[position]
    return position == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _assigns_locals(statement: ast.stmt) -> bool:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    return all(isinstance(target, (ast.Name, ast.Tuple)) for target in targets)


def mutants_of(module: str, source: bytes) -> List[Mutant]:
    """Every mutant of one module, in source order, each compiling; ids made unique by a #n suffix where needed."""
    finder = _MutantFinder(module, source)
    finder.visit(ast.parse(source))
    unique: List[Mutant] = []
    seen: Dict[str, int] = {}
    for mutant in sorted(finder.found, key=lambda found: (found.start, -found.end, found.description)):
        try:
            compile(mutant.apply(source), module, "exec")
        except SyntaxError:
            continue  # e.g. `pass` where a generator needs its only `yield`: not a mutant Python would run
        count = seen[mutant.ident] = seen.get(mutant.ident, 0) + 1
        if count > 1:
            mutant = Mutant(
                mutant.module, mutant.scope, f"{mutant.description} #{count}", mutant.line, mutant.start, mutant.end, mutant.replacement
            )
        unique.append(mutant)
    return unique


def read_equivalents(path: Path = EQUIVALENTS_FILE) -> Dict[str, str]:
    """Mutant id -> why it changes nothing. An entry is the id on one line and `because: ...` indented on the next."""
    equivalents: Dict[str, str] = {}
    ident: Optional[str] = None
    for number, line in enumerate(path.read_text().splitlines() if path.exists() else [], start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            if ident is not None:
                raise SystemExit(f"{path}:{number - 1}: the equivalent mutant {ident!r} has no `because:` line")
            ident = line.strip()
        elif line.strip().startswith("because:") and ident is not None and line.split(":", 1)[1].strip():
            equivalents[ident] = line.split(":", 1)[1].strip()
            ident = None
        else:
            raise SystemExit(f"{path}:{number}: expected a mutant id, or `because: <reason>` under one")
    if ident is not None:
        raise SystemExit(f"{path}: the equivalent mutant {ident!r} has no `because:` line")
    return equivalents


def own_unit_tests(module: str) -> List[str]:
    """The unit tests named after `module`: unit_tests/ mirrors the package, with the flat layout's names as the fallback.

    source_freshchat/<sub>/<stem>.py is tested in unit_tests/<sub>/test_<stem>.py, source_freshchat/<stem>.py in
    unit_tests/test_<stem>.py, and a package's __init__.py in unit_tests/<sub>/. Without that, the files that exist of
    unit_tests/test_<stem>.py and unit_tests/test_<sub>.py (a package tested in one file, such as diagnose/).
    """
    path = Path(module)
    if path.parts[:1] != (PACKAGE,):
        return []
    inside = path.relative_to(PACKAGE).parent
    flat = [f"unit_tests/test_{inside.name}.py"] if inside.parts else []
    if path.stem == "__init__":
        candidates = [f"unit_tests/{inside.as_posix()}", *flat] if inside.parts else []
    else:
        candidates = [(Path("unit_tests") / inside / f"test_{path.stem}.py").as_posix(), f"unit_tests/test_{path.stem}.py", *flat]
    found = [candidate for candidate in dict.fromkeys(candidates) if (ROOT / candidate).exists()]
    return found[:1] if found[:1] == candidates[:1] else found


def tests_for(module: str, unit_only: bool = False) -> List[List[str]]:
    """The test runs a mutant of `module` must survive: unit tests first (cheap), then its integration files.

    The unit tests named after the module run first, so most mutants fail in a second; pytest collects each test once.
    """
    unit = [*own_unit_tests(module), *UNIT_TESTS]
    return [unit] if unit_only else [unit, MODULE_TESTS.get(module, END_TO_END)]


def runs_for(module: str, covering: List[str], unit_only: bool, line_tests_only: bool) -> List[Tuple[str, List[str], List[str]]]:
    """(what killed it, the tests, the files whose baseline times them) of each run a mutant of `module` meets in turn.

    `covering` are the unit tests that run the mutant's line; their run is timed like all unit tests, which bound it.
    With `line_tests_only`, a mutant some unit test covers meets those tests alone (a triage: a survivor there is a
    candidate, to run again without it); a mutant no unit test covers, such as a module's constant, meets them all.
    """
    unit, *integration = tests_for(module, unit_only or line_tests_only)
    runs = [("unit tests that run its line", covering, unit)] if covering else []
    if not (line_tests_only and covering):
        runs += [("unit tests", unit, unit), *(("integration tests", files, files) for files in integration)]
    return runs


class LineRecorder:
    """A pytest plugin: the lines under `package` that each test runs, in its setup, call and teardown, in any thread.

    Only frames of code under `package` are traced line by line, so the rest of a test runs at nearly full speed.
    """

    def __init__(self, package: Path) -> None:
        self._prefix = str(package) + os.sep
        self._hits: Optional[Set[Tuple[str, int]]] = None
        self.lines: Dict[str, Set[Tuple[str, int]]] = {}  # test id -> (file, line), in the order the tests ran

    def start(self) -> None:
        threading.settrace(self._enter)
        sys.settrace(self._enter)

    def stop(self) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]  # None removes the hook, as for sys.settrace

    def save(self, path: Path, relative_to: Path) -> None:
        """As JSON: {test id: [[file relative to `relative_to`, line], ...]}."""
        lines = {test: sorted([os.path.relpath(name, relative_to), line] for name, line in hits) for test, hits in self.lines.items()}
        path.write_text(json.dumps(lines))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._hits = self.lines.setdefault(nodeid, set())

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._hits = None

    def _enter(self, frame: FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if self._hits is None or not frame.f_code.co_filename.startswith(self._prefix):
            return None
        self._hits.add((frame.f_code.co_filename, frame.f_lineno))  # the def line: a default argument is read by each call
        return self._line

    def _line(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        hits = self._hits
        if event == "line" and hits is not None:
            hits.add((frame.f_code.co_filename, frame.f_lineno))
        return self._line


class UnitCoverage:
    """Which unit tests run each line of the package: from one traced run of every unit test, made when first needed."""

    def __init__(self) -> None:
        self._tests_by_line: Optional[Dict[Tuple[str, int], List[int]]] = None
        self._tests: List[str] = []
        self._lock = threading.Lock()

    def tests_of(self, mutant: Mutant, source: bytes, sandbox: "Sandbox") -> List[str]:
        """The ids of the unit tests that run any line of `mutant`, in the order the suite runs them."""
        with self._lock:
            if self._tests_by_line is None:
                print(f"  tracing which lines each test of {' '.join(UNIT_TESTS)} runs...", flush=True)
                self._tests_by_line = self._index(sandbox.trace(UNIT_TESTS))
            tests_by_line = self._tests_by_line
        found = {test for line in mutant.lines(source) for test in tests_by_line.get((mutant.module, line), ())}
        return [self._tests[test] for test in sorted(found)]

    def _index(self, lines_by_test: Dict[str, List[Tuple[str, int]]]) -> Dict[Tuple[str, int], List[int]]:
        self._tests = list(lines_by_test)
        tests_by_line: Dict[Tuple[str, int], List[int]] = {}
        for position, lines in enumerate(lines_by_test.values()):
            for module, line in lines:
                tests_by_line.setdefault((module, line), []).append(position)
        return tests_by_line


class Sandbox:
    """A copy of the working tree that one worker mutates; its processes import source_freshchat from here."""

    def __init__(self, parent: Path, unit_only: bool, line_tests_only: bool = False) -> None:
        self.unit_only = unit_only
        self.line_tests_only = line_tests_only
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-", dir=parent))
        self.log = self.root.with_suffix(".log")
        shutil.copytree(
            ROOT,
            self.root,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "*.duckdb", "*.egg-info"),
        )

    def run(self, test_files: List[str], timeout: float, trace_to: Optional[Path] = None) -> Tuple[bool, str]:
        """(passed, output) of pytest over `test_files` (files or test ids); a run past `timeout` counts as failed.

        pytest runs in a forked child of this process, which has imported the CDK and pytest already:
        that import is most of the cost of a short run. The child imports source_freshchat afresh, from here.
        With `trace_to`, the child writes there which lines of the package each test ran (LineRecorder).
        """
        pid = os.fork()
        if pid == 0:
            self._child(test_files, trace_to)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished:
                    pid = 0
                    return os.waitstatus_to_exitcode(status) == 0, self.log.read_text(errors="replace")[-5000:]
                time.sleep(0.05)
            return False, f"{TIMED_OUT} {timeout:.0f}s"
        finally:
            if pid:  # timed out, or this driver is being stopped: end the run with the connector processes it started
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def _child(self, test_files: List[str], trace_to: Optional[Path]) -> None:
        code = 70
        try:
            os.setsid()
            output = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.chdir(self.root)
            # No bytecode at all: a mutant of the same size written within the same second would otherwise reuse a stale .pyc.
            os.environ.update(PYTHONPATH=str(self.root), PYTHONDONTWRITEBYTECODE="1")
            sys.dont_write_bytecode = True
            sys.path.insert(0, str(self.root))
            for name in [name for name in sys.modules if name.partition(".")[0] in LOCAL_PACKAGES]:
                del sys.modules[name]  # this driver's own package, imported from the worktree
            import pytest

            if trace_to is None:
                code = int(pytest.main([*PYTEST_ARGS, *test_files]))
            else:
                recorder = LineRecorder(self.root / PACKAGE)
                recorder.start()
                try:
                    code = int(pytest.main([*PYTEST_ARGS, *test_files], plugins=[recorder]))
                finally:
                    recorder.stop()
                recorder.save(trace_to, relative_to=self.root)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def trace(self, test_files: List[str]) -> Dict[str, List[Tuple[str, int]]]:
        """Test id -> the (module, line) of the package it runs, for the tests of `test_files` in the order they ran."""
        trace_file = self.root.with_suffix(".lines.json")
        passed, output = self.run(test_files, timeout=3600, trace_to=trace_file)
        if not passed:
            raise SystemExit(f"The tests fail without any mutant, traced ({' '.join(test_files)}):\n{output}")
        return {test: [(module, line) for module, line in lines] for test, lines in json.loads(trace_file.read_text()).items()}

    def outcome(self, mutant: Mutant, original: bytes, baselines: "Baselines", coverage: UnitCoverage) -> str:
        """'survived', or what killed the mutant: the phase that failed."""
        target = self.root / mutant.module
        covering = coverage.tests_of(mutant, original, self)
        for killer, tests, timed_like in runs_for(mutant.module, covering, self.unit_only, self.line_tests_only):
            timeout = baselines.timeout(timed_like, self)
            target.write_bytes(mutant.apply(original))
            try:
                passed, output = self.run(tests, timeout)
            finally:
                target.write_bytes(original)
            if not passed:
                return f"killed by {killer}" + (" (timeout)" if output.startswith(TIMED_OUT) else "")
        return "survived"


class Baselines:
    """How long each set of test files takes without a mutant: measured once, when a mutant first needs it.

    Most mutants never reach the integration files, so their minutes-long baseline is often never run.
    """

    def __init__(self) -> None:
        self._timeouts: Dict[Tuple[str, ...], float] = {}
        self._locks: Dict[Tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def timeout(self, test_files: List[str], sandbox: Sandbox) -> float:
        key = tuple(test_files)
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._timeouts:
                print(f"  baseline run of {' '.join(test_files)} without a mutant...", flush=True)
                started = time.monotonic()
                passed, output = sandbox.run(test_files, timeout=1800)
                if not passed:
                    raise SystemExit(f"The tests fail without any mutant ({' '.join(test_files)}):\n{output}")
                self._timeouts[key] = 30 + 3 * (time.monotonic() - started)  # generous: the machine is shared; a hung mutant still ends
            return self._timeouts[key]


def preload() -> None:
    """Imports what every test run needs and no mutant changes, once, before the forks."""
    for name in PRELOADED:
        importlib.import_module(name)


@dataclass
class ModuleResult:
    module: str
    total: int
    killed: int
    equivalent: int
    survivors: List[Mutant]
    unused_equivalents: List[str]

    @property
    def score(self) -> Optional[float]:
        counted = self.total - self.equivalent
        return 100.0 * self.killed / counted if counted else None


def check_module(
    module: str,
    sandboxes: List[Sandbox],
    equivalents: Dict[str, str],
    baselines: Baselines,
    coverage: UnitCoverage,
    only: Optional[Set[str]] = None,
) -> ModuleResult:
    original = (ROOT / module).read_bytes()
    every = mutants_of(module, original)
    mutants = every if only is None else [mutant for mutant in every if mutant.ident in only]
    marked = [mutant for mutant in mutants if mutant.ident in equivalents]
    candidates = [mutant for mutant in mutants if mutant.ident not in equivalents]
    unused = [ident for ident in equivalents if ident.startswith(module + "::") and ident not in {m.ident for m in every}]
    print(f"\n{module}: {len(mutants)} mutants ({len(marked)} marked equivalent)", flush=True)
    free = list(sandboxes)
    lock = threading.Lock()
    survivors: List[Mutant] = []
    done = [0]

    def run_one(mutant: Mutant) -> None:
        with lock:
            sandbox = free.pop()
        try:
            outcome = sandbox.outcome(mutant, original, baselines, coverage)
        finally:
            with lock:
                free.append(sandbox)
        with lock:
            done[0] += 1
            if outcome == "survived":
                survivors.append(mutant)
            print(f"  [{done[0]}/{len(candidates)}] line {mutant.line}: {outcome}: {mutant.scope}: {mutant.description}", flush=True)

    with ThreadPoolExecutor(max_workers=len(sandboxes)) as pool:
        list(pool.map(run_one, candidates))
    survivors.sort(key=lambda mutant: mutant.start)
    return ModuleResult(module, len(mutants), len(candidates) - len(survivors), len(marked), survivors, unused)


def modules_to_check(named: Sequence[str]) -> List[str]:
    if named:
        missing = [name for name in named if not (ROOT / name).is_file()]
        if missing:
            raise SystemExit(f"No such module: {', '.join(missing)}")
        return [str(Path(name)) for name in named]
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / PACKAGE).rglob("*.py"))


def report(results: List[ModuleResult], only: Optional[str] = None) -> None:
    print(
        "\nMutation score per module (killed / mutants that change behaviour):" + (f" of the mutants named in {only} only" if only else "")
    )
    for result in results:
        score = "   n/a" if result.score is None else f"{result.score:5.1f}%"
        counted = result.total - result.equivalent
        print(f"  {score}  {result.killed:4d}/{counted:<4d} {result.module}  ({result.equivalent} equivalent)")
    survivors = [mutant for result in results for mutant in result.survivors]
    print(f"\nSurviving mutants: {len(survivors)}")
    for mutant in survivors:
        print(f"  {mutant.module}:{mutant.line}\n    {mutant.ident}")
    for result in results:
        for ident in result.unused_equivalents:
            print(f"  note: {EQUIVALENTS_FILE.name} lists a mutant this code no longer has: {ident}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate, e.g. source_freshchat/rate_limit.py (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once, each in its own copy of the tree")
    parser.add_argument("--list", action="store_true", help="only list the mutants, with their ids")
    parser.add_argument("--unit-only", action="store_true", help="triage: run the unit tests alone (scores are then lower bounds)")
    parser.add_argument(
        "--line-tests-only",
        action="store_true",
        help="quicker triage than --unit-only: a mutant meets only the unit tests that run its line, if any do",
    )
    parser.add_argument(
        "--only",
        metavar="FILE",
        help="run only the mutants whose ids are lines of FILE, e.g. a previous run's output, to see its survivors killed",
    )
    args = parser.parse_args(argv)
    modules = modules_to_check(args.modules)
    only = {line.strip() for line in Path(args.only).read_text().splitlines()} if args.only else None
    if only is not None:
        modules = [module for module in modules if any(ident.startswith(module + "::") for ident in only)]
    if args.list:
        for module in modules:
            for mutant in mutants_of(module, (ROOT / module).read_bytes()):
                print(f"{mutant.line:4d} {mutant.ident}")
        return 0
    equivalents = read_equivalents()
    preload()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still ends its test runs and removes its copies
    with tempfile.TemporaryDirectory(prefix="freshchat-mutation-") as work:
        sandboxes = [Sandbox(Path(work), args.unit_only, args.line_tests_only) for _ in range(max(1, args.jobs))]
        baselines = Baselines()
        coverage = UnitCoverage()
        started = time.monotonic()
        results = [check_module(module, sandboxes, equivalents, baselines, coverage, only) for module in modules]
    report(results, args.only)
    print(f"\n{sum(result.total - result.equivalent for result in results)} mutants run in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
