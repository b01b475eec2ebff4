"""Fixtures of the end-to-end tests; the helpers they share with the tools are in harness.py."""

import pytest

from .emulator import FreshchatEmulator


@pytest.fixture
def emulator():
    with FreshchatEmulator(seed=11, users=30, conversations_per_user=2, messages_per_conversation=6) as running:
        yield running
