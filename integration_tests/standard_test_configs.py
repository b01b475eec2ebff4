"""The config files of the CDK's standard tests: a user's credentials if present, else the bundled emulator.

acceptance-test-config.yml lists integration_tests/secrets/config.json (expected to pass `check`) and
invalid_config.json (expected to fail it). A file there that this plugin did not write is the user's: it is
used as it is and never overwritten. A missing one is written for the run of the suite and removed after it.
The root conftest.py loads this plugin, so both runners of the suite get it: `make test`
(integration_tests/test_standard.py) and `airbyte-cdk connector test`, which generates its own test module.
"""

import json
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
from airbyte_cdk.test.standard_tests import ConnectorTestSuiteBase

from .emulator import Behaviour, FreshchatEmulator

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = Path("integration_tests", "secrets", "config.json")  # relative to the root, as acceptance-test-config.yml names them
INVALID_CONFIG_PATH = CONFIG_PATH.with_name("invalid_config.json")
# The keys of the files written here mark them as ours: a run killed before its cleanup leaves them behind,
# and the next run must replace them rather than take them for a user's credentials.
EMULATOR_API_KEY = "standard-tests-emulator-key"
WRONG_API_KEY = "standard-tests-wrong-key"
CONFIGS_USED = pytest.StashKey[str]()


def is_users_file(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        api_key = json.loads(path.read_text()).get("api_key")
    except (ValueError, AttributeError):
        return True
    return api_key not in (EMULATOR_API_KEY, WRONG_API_KEY)


@contextmanager
def written_for_the_run(path: Path, config: Mapping[str, Any]) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def standard_test_configs_in_place(root: Path = ROOT) -> Iterator[str]:
    """Yields what the suite runs against, in words for the run's summary."""
    config_file, invalid_config_file = root / CONFIG_PATH, root / INVALID_CONFIG_PATH
    with ExitStack() as stack:
        if is_users_file(config_file):
            config = json.loads(config_file.read_text())
            used = f"your credentials in {CONFIG_PATH}"
        else:
            emulator = stack.enter_context(
                FreshchatEmulator(
                    seed=3,
                    users=40,
                    conversations_per_user=2,
                    messages_per_conversation=4,
                    api_key=EMULATOR_API_KEY,
                    recent=True,
                    behaviour=Behaviour(report_pending_polls=0),
                )
            )
            config = emulator.config()
            stack.enter_context(written_for_the_run(config_file, config))
            used = f"the bundled emulator at {emulator.url} (no {CONFIG_PATH} of yours)"
        if not is_users_file(invalid_config_file):
            stack.enter_context(written_for_the_run(invalid_config_file, {**config, "api_key": WRONG_API_KEY}))
        yield used


@pytest.fixture(scope="class", autouse=True)
def standard_test_configs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Puts the config files in place around a class of the CDK's standard tests, whichever runner collected it."""
    if not (request.cls and issubclass(request.cls, ConnectorTestSuiteBase)):
        yield
        return
    with standard_test_configs_in_place() as used:
        request.config.stash[CONFIGS_USED] = used
        yield


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    used = config.stash.get(CONFIGS_USED, None)
    if used:
        terminalreporter.write_sep("-", f"the standard tests ran against {used}")
