"""The CDK's standard connector tests (the in-process successor of Airbyte's acceptance tests), run against the emulator."""

import json
from pathlib import Path

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from source_freshchat import SourceFreshchat

from .emulator import FreshchatEmulator

SECRETS = Path(__file__).parent / "secrets"


@pytest.fixture(scope="module", autouse=True)
def emulator_behind_the_acceptance_configs():
    """acceptance-test-config.yml names config files; they point at this emulator while the suite runs."""
    with FreshchatEmulator(seed=3, users=12, conversations_per_user=2, messages_per_conversation=4) as emulator:
        SECRETS.mkdir(exist_ok=True)
        (SECRETS / "config.json").write_text(json.dumps(emulator.config()))
        (SECRETS / "invalid_config.json").write_text(json.dumps(emulator.config(api_key="not-the-key")))
        yield emulator


class TestSourceFreshchat(SourceTestSuiteBase):
    connector = SourceFreshchat
