"""`source-freshchat diagnose` as a command (`diagnose/__init__.py`): its arguments, its exit codes, what it writes when
Freshchat cannot be reached; end to end: integration_tests/test_diagnose.py."""

import json
import sys

import pytest
import requests

from source_freshchat import diagnose as diagnose_package
from source_freshchat.diagnose import chosen_events
from source_freshchat.run import run
from source_freshchat.streams.report_events import EVENTS

from ..conftest import API, CONFIG


def test_events_are_all_none_or_a_list_of_known_names():
    assert chosen_events("all") == list(EVENTS) and chosen_events("none") == []
    assert chosen_events(" CSAT-Score, Chat-Transcript ") == ["CSAT-Score", "Chat-Transcript"]
    with pytest.raises(ValueError, match="unknown event\\(s\\) CSAT"):
        chosen_events("CSAT,Chat-Transcript")


def test_the_console_script_hands_diagnose_its_own_arguments_and_exits_with_its_code(monkeypatch, mocker):
    main = mocker.patch.object(diagnose_package, "main", return_value=1)
    monkeypatch.setattr(sys, "argv", ["source-freshchat", "diagnose", "--config", "c.json", "--events", "none"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 1
    main.assert_called_once_with(["--config", "c.json", "--events", "none"])


def test_a_config_the_connector_refuses_stops_diagnose_with_its_message(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG, "domain": "evil.example.com"}))
    assert diagnose_package.main(["--config", str(config), "--output", str(tmp_path / "out.json")]) == 2
    assert "is not a Freshchat host" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_an_unreachable_freshchat_still_writes_what_was_found_and_exits_1(tmp_path, capsys, requests_mock):
    config, output = tmp_path / "config.json", tmp_path / "out.json"
    config.write_text(json.dumps(CONFIG))
    requests_mock.get(f"{API}/accounts/configuration", exc=requests.ConnectionError(f"{API}/accounts/configuration refused"))
    assert diagnose_package.main(["--config", str(config), "--output", str(output)]) == 1
    report = json.loads(output.read_text())
    assert report["error"] == "could not reach Freshchat: ConnectionError" and report["account"] == {}
    assert "Stopped early, could not reach Freshchat: ConnectionError" in capsys.readouterr().out
