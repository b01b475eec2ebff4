"""A local Freshchat REST API v2 emulator for the connector's integration tests and benchmark."""

from .data import REPORT_EVENTS, Dataset, recent_start_ms
from .server import Behaviour, FreshchatEmulator

__all__ = ["Behaviour", "Dataset", "FreshchatEmulator", "REPORT_EVENTS", "recent_start_ms"]
