"""The CDK's standard connector tests (the in-process successor of Airbyte's acceptance tests).

Their config files come from integration_tests/standard_test_configs.py: the bundled emulator unless a user put
real credentials in integration_tests/secrets/config.json.
"""

import copy
from pathlib import Path

import pytest
import requests
import yaml
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase, docker_base
from airbyte_cdk.test.standard_tests._spec_compatibility import REGISTRY_ENTRY_URL_TEMPLATE

from source_freshchat import SourceFreshchat

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
SPEC = yaml.safe_load((ROOT / "source_freshchat" / "spec.yaml").read_text())


class TestSourceFreshchat(SourceTestSuiteBase):
    connector = SourceFreshchat


def published_entry_url(deployment_mode: str) -> str:
    """Where the spec backward-compatibility test looks up the published spec: metadata.yaml's dockerRepository."""
    return REGISTRY_ENTRY_URL_TEMPLATE.format(docker_repository=METADATA["dockerRepository"], version="latest", registry=deployment_mode)


def test_spec_compatibility_is_skipped_with_a_warning_when_the_registry_is_unreachable(requests_mock):
    requests_mock.get(published_entry_url("oss"), exc=requests.ConnectionError("no route to the connector registry"))
    with pytest.warns(UserWarning, match="could not be reached"), pytest.raises(pytest.skip.Exception, match="could not be reached"):
        TestSourceFreshchat().test_docker_image_spec_backward_compatibility(None, None)
    assert [request.url for request in requests_mock.request_history] == [published_entry_url("oss")]


def test_spec_compatibility_fails_on_a_breaking_change_to_the_published_spec(requests_mock, monkeypatch):
    published = copy.deepcopy(SPEC)
    published["connectionSpecification"]["required"] = ["domain"]  # a version whose configs could omit api_key
    requests_mock.get(published_entry_url("oss"), json={"dockerImageTag": "0.0.1", "spec": published})
    requests_mock.get(published_entry_url("cloud"), status_code=404)  # metadata.yaml: not enabled on Cloud
    # The image emits the package's spec.yaml (test_packaging installs the package as the Dockerfile does).
    monkeypatch.setattr(docker_base, "_run_spec_in_image", lambda image, deployment_mode: SPEC)
    with pytest.raises(pytest.fail.Exception, match="`api_key` is now required"):
        TestSourceFreshchat().test_docker_image_spec_backward_compatibility(f"{METADATA['dockerRepository']}:dev", None)
