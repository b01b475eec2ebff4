"""The standard tests' config files, as Airbyte's own test command `airbyte-cdk connector test` finds them.

The command runs on a copy of this repository in a folder named source-freshchat, because it derives the
connector's package and class from the folder's name, whatever this checkout's folder is called.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .emulator import FreshchatEmulator
from .standard_test_configs import CONFIG_PATH, EMULATOR_API_KEY, INVALID_CONFIG_PATH, ROOT, standard_test_configs_in_place

AIRBYTE_CDK = Path(sys.executable).parent / "airbyte-cdk"
CHECK_SCENARIOS = {"test_check['config' Test Scenario]", "test_check['invalid_config' Test Scenario]"}


@pytest.fixture
def fresh_checkout(tmp_path) -> Path:
    checkout = tmp_path / "source-freshchat"
    untracked = shutil.ignore_patterns(".git", ".venv", ".tmp", "build", "secrets", "demo-output", "*.duckdb*", "__pycache__", ".*_cache")
    shutil.copytree(ROOT, checkout, ignore=untracked)
    return checkout


def connector_test_of_check(checkout: Path) -> subprocess.CompletedProcess:
    """`airbyte-cdk connector test` limited to the check scenarios: the ones that prove which account the configs reach."""
    command = [str(AIRBYTE_CDK), "connector", "test", str(checkout), "--pytest-arg=-k", "--pytest-arg=test_check", "--pytest-arg=-rA"]
    return subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=300)


def passed(run: subprocess.CompletedProcess) -> set:
    return set(re.findall(r"^PASSED \.tmp/integration_tests/test_airbyte_standards\.py::TestSuite::(.+)$", run.stdout, re.MULTILINE))


def test_the_cli_runs_the_standard_tests_against_the_bundled_emulator(fresh_checkout):
    run = connector_test_of_check(fresh_checkout)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert passed(run) == CHECK_SCENARIOS
    assert re.search(r"the standard tests ran against the bundled emulator at http://127\.0\.0\.1:\d+", run.stdout)
    assert not list((fresh_checkout / "integration_tests" / "secrets").iterdir()), "the emulator's configs outlived the run"


def test_the_cli_uses_a_users_credentials_and_never_overwrites_them(fresh_checkout):
    secrets = fresh_checkout / "integration_tests" / "secrets"
    secrets.mkdir()
    with FreshchatEmulator(seed=5, users=3, api_key="a-users-own-key") as users_account:
        users_config = json.dumps(users_account.config(), indent=4)
        (secrets / "config.json").write_text(users_config)
        run = connector_test_of_check(fresh_checkout)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert passed(run) == CHECK_SCENARIOS
    assert f"the standard tests ran against your credentials in {CONFIG_PATH}" in run.stdout
    assert (secrets / "config.json").read_text() == users_config
    assert users_account.status_counts[200] and users_account.status_counts[401], "both check scenarios reach the user's account"
    assert [path.name for path in secrets.iterdir()] == ["config.json"]


def test_the_leftovers_of_a_killed_run_are_replaced_and_removed(tmp_path):
    config, invalid_config = tmp_path / CONFIG_PATH, tmp_path / INVALID_CONFIG_PATH
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"domain": "http://127.0.0.1:9", "api_key": EMULATOR_API_KEY}))

    with standard_test_configs_in_place(root=tmp_path) as used:
        assert used.startswith("the bundled emulator at ")
        assert json.loads(config.read_text())["domain"] != "http://127.0.0.1:9"
        assert invalid_config.exists()
    assert not config.exists() and not invalid_config.exists()
