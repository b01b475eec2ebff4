"""Runs a command while every core is kept busy (`make test-under-load`): the suite must pass on a loaded machine too.

    python -m tools.under_load [--hogs N] [--max-seconds S] -- COMMAND [ARG ...]

One CPU hog per core (a process spinning in pure Python) starts before the command and stops when it
ends; the exit status is the command's. A hog also stops by itself once this driver is gone (killed,
even with SIGKILL: its parent changes) or after --max-seconds, so an interrupted run never leaves one
spinning. The command's duration is printed at the end, for the README's record of such runs.
"""

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional, Sequence

PARENT_CHECK_SECONDS = 0.5  # how soon a hog notices that its driver is gone


def spin(parent: int, deadline: float) -> None:
    """Busy until the driver is gone or the deadline has passed; checks only now and then, so it is almost all work."""
    while os.getppid() == parent and time.monotonic() < deadline:
        until = time.monotonic() + PARENT_CHECK_SECONDS
        while time.monotonic() < until:
            sum(range(1000))


def start_hogs(count: int, max_seconds: float) -> List[multiprocessing.Process]:
    context = multiprocessing.get_context("fork")
    deadline = time.monotonic() + max_seconds
    hogs = [context.Process(target=spin, args=(os.getpid(), deadline), name=f"cpu-hog-{n}", daemon=True) for n in range(count)]
    for hog in hogs:
        hog.start()
    return hogs


def stop_hogs(hogs: Sequence[multiprocessing.Process]) -> None:
    for hog in hogs:
        hog.terminate()
    for hog in hogs:
        hog.join()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy processes (default: one per core)")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="the hogs stop after this long even if the command has not")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop the hogs (the finally below)
    hogs = start_hogs(args.hogs, args.max_seconds)
    started = time.monotonic()
    try:
        print(f"under load: {len(hogs)} CPU hog(s) on {os.cpu_count()} core(s), for {args.max_seconds:.0f}s at most", flush=True)
        code = subprocess.call(command)
    finally:
        stop_hogs(hogs)
    print(f"under load: exit status {code} after {time.monotonic() - started:.0f}s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
