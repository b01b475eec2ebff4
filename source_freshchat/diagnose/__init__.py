"""`source-freshchat diagnose`: settle the API's unknowns on the user's own account (README, "Checking what your account does").

Read-only and cheap: a few dozen REST requests and one small report job per event. It prints a table
and writes a JSON report that is safe to share: column names, formats, counts, timings, statuses and
hosts, never a record's value, an id, a name, a link's query string or the API key. Not part of the
Airbyte protocol: `spec`, `check`, `discover` and `read` are unaffected.
"""

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Dict, List, Sequence

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..config import parse_settings
from ..streams.report_events import EVENTS
from .common import Api, Pace, scrub
from .output import render
from .reports import ReportProbes, zone_finding
from .rest import PROBE_PATH, run_rest_probes

REPORT_FORMAT = 1  # bumped when a key of the JSON changes meaning
DEFAULT_OUTPUT = "diagnose.json"
DEFAULT_WINDOW_HOURS = 24.0
DEFAULT_LONG_WINDOW_DAYS = 31  # about the month that some events are said to allow at most


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    defaults = Pace()
    parser = argparse.ArgumentParser(prog="source-freshchat diagnose", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the connector's config file (domain, api_key)")
    parser.add_argument("--events", default="all", help="all, none, or a comma-separated list of Extract API events")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"where the JSON report goes (default {DEFAULT_OUTPUT})")
    parser.add_argument("--window-hours", type=float, default=DEFAULT_WINDOW_HOURS, help="each event's report window, ending now")
    parser.add_argument("--long-window-days", type=int, default=DEFAULT_LONG_WINDOW_DAYS, help="the one long window's length")
    parser.add_argument("--poll-seconds", type=float, default=defaults.poll_seconds, help="between polls of a report job")
    parser.add_argument("--creation-interval", type=float, default=defaults.creation_interval_seconds, help="seconds between job creations")
    parser.add_argument("--max-wait-minutes", type=float, default=defaults.job_wait_seconds / 60, help="per report job")
    parser.add_argument(
        "--rate-limit-wait", type=float, default=defaults.rate_limit_wait_seconds, help="longest wait for a window's end; 0: headers only"
    )
    parser.add_argument("--quota-wait", type=float, default=defaults.quota_wait_seconds, help="longest 429 wait; longer: recorded")
    return parser.parse_args(list(argv))


def chosen_events(text: str) -> List[str]:
    if text.strip().lower() == "all":
        return list(EVENTS)
    if text.strip().lower() == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event(s) {', '.join(unknown)}; expected all, none or some of: {', '.join(EVENTS)}")
    return names


class ScrubbedLogs(logging.Filter):
    """The connector's own log lines (a download retried, say) name report links by path, which holds a job id."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage(), self.api_key), ()
        return True


def connector_version() -> str:
    try:
        return version("source-freshchat")
    except PackageNotFoundError:
        return "unknown"


def diagnose(config: Dict[str, Any], events: Sequence[str], pace: Pace, window: timedelta, long_window: timedelta, say) -> Dict[str, Any]:
    """The whole report: the account probe, then the REST part, then the Extract API part."""
    started, clock = datetime.now(timezone.utc), time.monotonic()
    settings = parse_settings(config)
    connector_logs, scrubbed = logging.getLogger("airbyte"), ScrubbedLogs(settings.api_key)
    level = connector_logs.level
    connector_logs.setLevel(logging.WARNING)  # each download's info line would break up the table
    connector_logs.addFilter(scrubbed)
    api = Api(settings, pace)
    report: Dict[str, Any] = {
        "diagnose": {"format": REPORT_FORMAT, "connector_version": connector_version(), "started": started.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "account": {},
    }
    try:
        account = api.call("GET", PROBE_PATH)
        body = account.body()
        if not account.ok or not isinstance(body, dict):
            report["account"] = account.refusal(settings.api_key) if body is not None else {"status": account.status, "message": "not JSON"}
            return report
        report["account"] = {"status": account.status, "timezone": "present" if body.get("timezone") else "absent"}
        report["rest"] = run_rest_probes(api, say)
        if events:
            extract = ReportProbes(api, say).run(events, window, long_window)
            extract["zone"] = zone_finding(extract["events"], body.get("timezone"), datetime.now(timezone.utc) - window)
            report["extract"] = extract
    except requests.RequestException as error:  # what was found so far is still worth writing
        report["error"] = f"could not reach Freshchat: {type(error).__name__}"
    finally:
        api.close()
        connector_logs.removeFilter(scrubbed)
        connector_logs.setLevel(level)
        report["diagnose"].update(requests=api.requests, seconds=round(time.monotonic() - clock, 1))
    return report


def main(argv: Sequence[str]) -> int:
    args = arguments(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        events = chosen_events(args.events)
        with open(args.config, encoding="utf-8") as config_file:
            config = json.load(config_file)
    except (OSError, ValueError) as error:
        say(f"diagnose: {error}")
        return 2
    pace = Pace(
        poll_seconds=args.poll_seconds,
        creation_interval_seconds=args.creation_interval,
        job_wait_seconds=args.max_wait_minutes * 60,
        rate_limit_wait_seconds=args.rate_limit_wait,
        quota_wait_seconds=args.quota_wait,
    )
    try:
        report = diagnose(config, events, pace, timedelta(hours=args.window_hours), timedelta(days=args.long_window_days), say)
    except AirbyteTracedException as error:
        say(f"diagnose: {error.message}")
        return 2
    with open(args.output, "w", encoding="utf-8") as output:
        json.dump(report, output, indent=2)
        output.write("\n")
    sys.stdout.write(render(report, args.output))
    return 0 if report["account"].get("status") == 200 and "error" not in report else 1
