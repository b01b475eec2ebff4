"""Runs the emulator from the command line until Ctrl-C or SIGTERM.

python -m integration_tests.emulator --port 8765 --users 100 --seed 7 --api-key demo-key
python -m integration_tests.emulator --tls   # HTTPS; prints the certificate to trust (REQUESTS_CA_BUNDLE)
"""

import argparse
import json
import signal
import threading

from .server import Behaviour, FreshchatEmulator


def _parse_args(argv=None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = _parse_args(argv)
    behaviour = Behaviour(
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        rate_limit_window_seconds=args.rate_limit_window_seconds,
        rate_limit_window_opens=args.rate_limit_window_opens,
        rate_limit_reset_rounding=args.rate_limit_reset_rounding,
        rate_limit_spent_by_others=args.rate_limit_spent_by_others,
    )
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
    with emulator:
        print(
            f"Freshchat emulator at {emulator.url}, report downloads at {emulator.storage_url} config: {json.dumps(emulator.config())}",
            flush=True,
        )
        if emulator.ca_bundle:
            print(f"Trust its certificate: export REQUESTS_CA_BUNDLE={emulator.ca_bundle}", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
