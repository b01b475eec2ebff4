"""The entry point: what `source-freshchat` prints, and the config check that names the field at fault."""

import json
import sys

from source_freshchat import SourceFreshchat
from source_freshchat.run import launch, run

from .conftest import CONFIG


def printed_messages(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def check_status(capsys, config, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    launch(SourceFreshchat(), ["check", "--config", str(path)])
    return [message["connectionStatus"] for message in printed_messages(capsys) if message["type"] == "CONNECTION_STATUS"][0]


def test_the_console_script_answers_spec_from_its_command_line_one_message_a_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["source-freshchat", "spec"])
    run()
    lines = capsys.readouterr().out.split("\n")
    assert lines[-1] == "" and [json.loads(line)["type"] for line in lines[:-1]] == ["SPEC"]  # no blank line between


def test_check_names_the_field_at_fault_before_the_spec_does(capsys, tmp_path):
    status = check_status(capsys, {**CONFIG, "domain": 123}, tmp_path)
    assert status["status"] == "FAILED" and status["message"].startswith("`domain` must be a string, got int")


def test_check_still_applies_the_spec_where_our_rules_accept(capsys, tmp_path):
    """An explicit null requests_per_minute passes our rules (no cap) but not the spec's integer type."""
    status = check_status(capsys, {**CONFIG, "requests_per_minute": None}, tmp_path)
    assert status["status"] == "FAILED" and status["message"].startswith("Config validation error: None is not of type 'integer'")
