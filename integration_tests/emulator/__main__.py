"""Runs the emulator from the command line until Ctrl-C or SIGTERM.

python -m integration_tests.emulator --port 8765 --users 100 --seed 7 --api-key demo-key
python -m integration_tests.emulator --tls   # HTTPS; prints the certificate to trust (REQUESTS_CA_BUNDLE)
"""

import argparse
import json
import signal
import threading

from .behaviour import Behaviour
from .server import FreshchatEmulator


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--conversations-per-user", type=int, default=2)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default="demo-key")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window; unlimited if omitted")
    parser.add_argument("--rate-limit-window-seconds", type=float, default=60.0)
    parser.add_argument("--rate-limit-window-opens", choices=("first_request", "clock"), default="first_request")
    parser.add_argument("--rate-limit-reset-rounding", choices=("up", "down"), default="up")
    parser.add_argument("--rate-limit-spent-by-others", type=int, default=0, help="requests another client spends in each window")
    parser.add_argument(
        "--recent",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="date the data within the Extract API's 15 months and stamp changes with the real time (default)",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a certificate made at start")
    readings = parser.add_argument_group("readings of the Extract API that no document settles (README: What Freshchat does not document)")
    readings.add_argument(
        "--report-max-window",
        action="append",
        default=[],
        metavar="[EVENT=]HOURS",
        help="refuse (400) a report window longer than HOURS, for EVENT or every event; repeatable",
    )
    readings.add_argument("--report-window-refusal", default=None, help="that 400's message; {hours}, {days} and {event} are filled in")
    readings.add_argument("--report-daily-quota", type=int, default=None, help="report creations per UTC day; SIGUSR1 starts a new day")
    readings.add_argument("--report-daily-quota-scope", choices=("event", "account"), default="event")
    readings.add_argument("--no-report-quota-retry-after", action="store_true", help="the quota's 429 carries no Retry-After")
    readings.add_argument("--report-time-zone", default=None, help="an IANA zone: report times are local, without an offset")
    readings.add_argument("--report-time-format", choices=("iso", "space", "epoch_s", "epoch_ms"), default="iso")
    readings.add_argument("--no-report-interval", action="store_true", help="a job's poll does not echo its window")
    readings.add_argument("--no-account-time-zone", action="store_true", help="accounts/configuration has no timezone")
    readings.add_argument("--no-report-links-of-empty-pieces", action="store_true", help="a piece without rows has no link")
    readings.add_argument("--report-payload", choices=("zip", "csv"), default="zip")
    readings.add_argument("--report-header-style", choices=("snake", "title"), default="snake")
    readings.add_argument("--long-message-chars", type=int, default=0, help="add one message this long (a pasted log) to the data")
    return parser.parse_args(argv)


def window_limits(specs) -> dict:
    """`Chat-Transcript=24` and `720` (every event) as Behaviour.report_max_window_hours."""
    limits = {}
    for spec in specs:
        event, _, hours = spec.rpartition("=")
        limits[event or "*"] = float(hours)
    return limits


def main(argv=None) -> None:
    args = parse_args(argv)
    behaviour = Behaviour(
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        rate_limit_window_seconds=args.rate_limit_window_seconds,
        report_max_window_hours=window_limits(args.report_max_window),
        report_daily_quota=args.report_daily_quota,
        report_daily_quota_scope=args.report_daily_quota_scope,
        report_daily_quota_retry_after=not args.no_report_quota_retry_after,
        report_time_zone=args.report_time_zone,
        report_time_format=args.report_time_format,
        report_interval_echo=not args.no_report_interval,
        report_links_of_empty_pieces=not args.no_report_links_of_empty_pieces,
        account_time_zone=not args.no_account_time_zone,
        report_payload=args.report_payload,
        report_header_style=args.report_header_style,
        rate_limit_window_opens=args.rate_limit_window_opens,
        rate_limit_reset_rounding=args.rate_limit_reset_rounding,
        rate_limit_spent_by_others=args.rate_limit_spent_by_others,
    )
    if args.report_window_refusal is not None:
        behaviour.report_window_refusal = args.report_window_refusal
    emulator = FreshchatEmulator(
        seed=args.seed,
        users=args.users,
        conversations_per_user=args.conversations_per_user,
        messages_per_conversation=args.messages_per_conversation,
        api_key=args.api_key,
        behaviour=behaviour,
        host=args.host,
        port=args.port,
        recent=args.recent,
        tls=args.tls,
    )
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())
    signal.signal(signal.SIGUSR1, lambda *_: emulator.new_day())
    with emulator:
        if args.long_message_chars:
            conversation_id = next(iter(emulator.data.conversations))
            emulator.data.add_message(conversation_id, "user", message_parts=[{"text": {"content": "x" * args.long_message_chars}}])
        print(
            f"Freshchat emulator at {emulator.url}, report downloads at {emulator.storage_url} config: {json.dumps(emulator.config())}",
            flush=True,
        )
        if emulator.ca_bundle:
            print(f"Trust its certificate: export REQUESTS_CA_BUNDLE={emulator.ca_bundle}", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
