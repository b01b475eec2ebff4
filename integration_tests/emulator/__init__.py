"""A local Freshchat REST API v2 emulator for the connector's integration tests and benchmark."""

from .data import Dataset
from .server import Behaviour, FreshchatEmulator

__all__ = ["Behaviour", "Dataset", "FreshchatEmulator"]
