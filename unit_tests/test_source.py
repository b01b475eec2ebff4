"""The source as a whole: its input files, its own config validation, the streams it builds and what they share."""

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_freshchat import SourceFreshchat
from source_freshchat.run import launch

from .conftest import API, CONFIG, envelope, run_check, run_read


@pytest.mark.parametrize(
    "kind, read",
    [("config", SourceFreshchat.read_config), ("catalog", SourceFreshchat.read_catalog), ("state", SourceFreshchat.read_state)],
)
@pytest.mark.parametrize("problem", ["missing", "a directory"])
def test_an_input_file_that_cannot_be_read_is_a_config_error_naming_it(kind, read, problem, tmp_path):
    path = tmp_path / "missing.json" if problem == "missing" else tmp_path
    with pytest.raises(AirbyteTracedException) as error:
        read(str(path))
    assert error.value.failure_type == FailureType.config_error
    assert error.value.message.startswith(f"Cannot read the {kind} file {path}: ")


def test_a_missing_config_file_fails_the_command_with_that_message(tmp_path, capsys):
    with pytest.raises(AirbyteTracedException, match="Cannot read the config file"):
        launch(SourceFreshchat(), ["check", "--config", str(tmp_path / "config.json")])


def test_the_config_is_validated_by_our_rules_naming_the_field_not_by_the_spec(requests_mock):
    """The spec check would run first and name only the value; ours names the field and what a valid one looks like."""
    output = run_read(["agents"], config={**CONFIG, "domain": 123})
    assert output.errors[0].trace.error.message.startswith("`domain` must be a string, got int")
    assert requests_mock.call_count == 0


class Paced(Exception):
    pass


def test_a_configured_requests_per_minute_paces_the_sync(requests_mock, no_sleep):
    """With one request a minute, the second page waits most of a minute: the stubbed sleep records that wait and ends the sync."""

    def sleep(seconds):
        if seconds > 30:
            raise Paced(seconds)

    no_sleep.side_effect = sleep
    requests_mock.get(
        f"{API}/agents",
        [{"json": envelope("agents", [{"id": "1"}], next_href="/v2/agents?page=2&items_per_page=50")}, {"json": envelope("agents", [])}],
    )
    run_read(["agents"], config={**CONFIG, "requests_per_minute": 1})
    assert any(30 < call.args[0] <= 60 for call in no_sleep.call_args_list), no_sleep.call_args_list


def test_without_requests_per_minute_the_sync_is_not_paced(requests_mock, no_sleep):
    requests_mock.get(
        f"{API}/agents",
        [{"json": envelope("agents", [{"id": "1"}], next_href="/v2/agents?page=2&items_per_page=50")}, {"json": envelope("agents", [])}],
    )
    run_read(["agents"])
    assert not no_sleep.called


@pytest.mark.parametrize(
    "kind, read, expected",
    [
        ("config", SourceFreshchat.read_config, "a JSON object"),
        ("catalog", SourceFreshchat.read_catalog, "a configured catalog"),
        ("state", SourceFreshchat.read_state, "a list of Airbyte state messages"),
    ],
)
def test_an_input_file_that_is_not_what_it_should_hold_is_a_config_error_naming_it(kind, read, expected, tmp_path):
    path = tmp_path / "input.json"
    path.write_text("{not json")
    with pytest.raises(AirbyteTracedException) as error:
        read(str(path))
    assert error.value.failure_type == FailureType.config_error
    assert error.value.message.startswith(f"The {kind} file {path} is not {expected}")


def test_check_passes_a_config_error_on_as_it_is_and_logs_the_account_it_reached(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", status_code=401, json={"code": 401, "status": "UNAUTHORIZED"})
    refused = run_check(CONFIG, tmp_path).connection_status_messages[0].connectionStatus.message
    assert refused.startswith("Freshchat rejected the API key")
    requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "42"})
    logs = [log.log.message for log in run_check(CONFIG, tmp_path).logs]
    assert "Connected to Freshchat account 42 at https://acme.freshchat.com" in logs


def test_a_config_error_in_one_read_does_not_stop_the_next_read_of_the_same_source(requests_mock):
    source = SourceFreshchat()
    requests_mock.get(f"{API}/agents", status_code=401, json={"code": 401, "status": "UNAUTHORIZED"})
    read(source, CONFIG, CatalogBuilder().with_stream("agents", SyncMode.full_refresh).build())
    requests_mock.get(f"{API}/agents", status_code=503, text="down")
    groups = requests_mock.get(f"{API}/groups", json=envelope("groups", [{"id": "g1"}]))
    catalog = CatalogBuilder().with_stream("agents", SyncMode.full_refresh).with_stream("groups", SyncMode.full_refresh).build()
    read(source, CONFIG, catalog)
    assert groups.call_count == 1


def test_a_catalog_naming_an_unknown_stream_is_a_config_error(requests_mock):
    output = run_read(["tickets"])
    assert output.errors and output.errors[-1].trace.error.failure_type.value == "config_error"
    assert requests_mock.call_count == 0
