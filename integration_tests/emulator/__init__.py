"""A local Freshchat REST API v2, with the storage host of its Extract API.

A test asset of the connector's tests; the demo and the benchmarks (tools/) sync from it too. The switches it plays
are `Behaviour` (behaviour.py); `python -m integration_tests.emulator --help` runs it on its own.
"""

from .behaviour import Behaviour
from .data import REPORT_EVENTS, Dataset, recent_start_ms
from .server import FreshchatEmulator

__all__ = ["Behaviour", "Dataset", "FreshchatEmulator", "REPORT_EVENTS", "recent_start_ms"]
