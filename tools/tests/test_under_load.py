"""The load driver of `make test-under-load`: the command's exit status passes through, and no CPU hog outlives the run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

BOUND_SECONDS = 60  # a guard against a hog that never stops, not a measure of how fast one does
LIST_SIBLINGS = "import os; p = os.getppid(); print(open(f'/proc/{p}/task/{p}/children').read()); raise SystemExit(3)"


def driver(*args: str) -> List[str]:
    return [sys.executable, "-m", "tools.under_load", "--hogs", "2", *args]


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned hog is reaped by whoever adopts it, maybe never in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def hogs_and_command(process: subprocess.Popen) -> Tuple[List[int], int]:
    """The driver's children, once all three have started: (the two hogs, the command)."""
    deadline = time.monotonic() + BOUND_SECONDS
    while time.monotonic() < deadline:
        children = [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        commands = [pid for pid in children if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0")]
        if len(children) == 3 and commands:
            return [pid for pid in children if pid not in commands], commands[0]
        time.sleep(0.05)
    pytest.fail(f"the driver did not start two hogs and the command within {BOUND_SECONDS}s")


def wait_until_stopped(pids: Sequence[int]) -> List[int]:
    deadline = time.monotonic() + BOUND_SECONDS
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if running(pid)]


def test_the_command_runs_beside_the_hogs_and_its_exit_status_is_the_drivers():
    run = subprocess.run(
        [*driver("--max-seconds", "120"), "--", sys.executable, "-c", LIST_SIBLINGS], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 3, run.stderr
    children = [int(pid) for pid in run.stdout.splitlines()[1].split()]
    assert len(children) == 3  # the two hogs and the command
    assert not [pid for pid in children if running(pid)], "a process of the run outlived the driver"


def test_the_hogs_stop_by_themselves_when_the_driver_is_killed():
    process = subprocess.Popen([*driver("--max-seconds", "3600"), "--", "sleep", "600"], stdout=subprocess.DEVNULL)
    hogs, command = hogs_and_command(process)
    try:
        process.kill()  # SIGKILL: the driver cannot stop them itself
        process.wait()
        assert not wait_until_stopped(hogs), "a hog outlived its killed driver"
    finally:
        os.kill(command, signal.SIGKILL)


def test_the_hogs_stop_by_themselves_at_their_time_bound():
    process = subprocess.Popen([*driver("--max-seconds", "1"), "--", "sleep", "600"], stdout=subprocess.DEVNULL)
    hogs, command = hogs_and_command(process)
    try:
        assert not wait_until_stopped(hogs), "a hog ran past --max-seconds"
        assert process.poll() is None  # while the driver still waits for its command
    finally:
        os.kill(command, signal.SIGKILL)
        process.wait()
