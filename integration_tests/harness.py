"""The harness of the end-to-end tests and the tools (tools/): the installed connector as a subprocess, and the truth.

A plain module rather than a conftest.py, so that the benchmarks run the connector exactly as the tests do without
importing pytest's machinery; the fixtures stay in integration_tests/conftest.py.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from source_freshchat.config import format_timestamp, parse_timestamp

from .emulator import FreshchatEmulator
from .emulator.data import STREAM_NAMES

CONNECTOR = Path(sys.executable).parent / "source-freshchat"
STREAMS = list(STREAM_NAMES)
PRIMARY_KEYS = {"account": "account_id", "conversations": "conversation_id", "outbound_messages": "message_id"}
CURSORS = {"users": "updated_time", "conversations": "updated_time", "messages": "created_time"}


def wait_for_the_next_second() -> None:
    """A sync asks for reports up to the whole second it starts in, so an event of that second is the next sync's: a test
    that makes events and syncs at once lets the second pass first (the 10 ms cover the emulator's clock ticks)."""
    time.sleep(1.01 - time.time() % 1)


def primary_key(stream: str) -> str:
    return PRIMARY_KEYS.get(stream, "id")


@dataclass
class ConnectorRun:
    returncode: int
    messages: List[Mapping[str, Any]]
    stdout: str
    stderr: str

    def of_type(self, kind: str) -> List[Mapping[str, Any]]:
        return [message for message in self.messages if message["type"] == kind]

    def records(self, stream: str) -> List[Mapping[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream]

    def states(self) -> List[Mapping[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    def final_state(self) -> List[Mapping[str, Any]]:
        """The last state of each stream, as Airbyte would pass it to the next sync."""
        latest: Dict[str, Mapping[str, Any]] = {}
        for state in self.states():
            latest[state["stream"]["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": state["stream"]}
        return list(latest.values())

    def errors(self) -> List[str]:
        return [m["trace"]["error"]["message"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def logs(self, *levels: str) -> List[str]:
        return [m["log"]["message"] for m in self.of_type("LOG") if not levels or m["log"]["level"] in levels]


def run_connector(
    tmp_path: Path,
    command: str,
    config: Optional[Mapping[str, Any]] = None,
    catalog: Optional[Mapping[str, Any]] = None,
    state: Optional[List[Mapping[str, Any]]] = None,
    executable: Path = CONNECTOR,
) -> ConnectorRun:
    """Runs the installed entry point as Airbyte does: a process, files in, JSON lines out."""
    args = [str(executable), command]
    for flag, value in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if value is not None:
            path = tmp_path / f"{flag.strip('-')}.json"
            path.write_text(json.dumps(value))
            args += [flag, str(path)]
    completed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    return ConnectorRun(completed.returncode, messages, completed.stdout, completed.stderr)


def configured_catalog(
    tmp_path: Path, config: Mapping[str, Any], streams: Iterable[str] = STREAMS, incremental: bool = False
) -> Mapping[str, Any]:
    discovered = run_connector(tmp_path, "discover", config).of_type("CATALOG")[0]["catalog"]["streams"]
    wanted = set(streams)
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "incremental" if incremental and "incremental" in stream["supported_sync_modes"] else "full_refresh",
                "destination_sync_mode": "append",
                **({"cursor_field": stream["default_cursor_field"]} if incremental and stream.get("default_cursor_field") else {}),
            }
            for stream in discovered
            if stream["name"] in wanted
        ]
    }


def later(state: List[Mapping[str, Any]], by: timedelta) -> List[Mapping[str, Any]]:
    """The state as a sync `by` later finds it: every moment the state records, moved that much into the past.

    This is how the rolling walk's tests and benchmark simulate hours between syncs that run seconds apart.
    """
    moved = json.loads(json.dumps(state))

    def shift(mapping, *keys):
        for key in keys:
            if mapping.get(key):
                mapping[key] = format_timestamp(parse_timestamp(mapping[key]) - by)

    for entry in moved:
        stream_state = entry["stream"]["stream_state"]
        shift(stream_state, *set(CURSORS.values()))
        discovery = stream_state.get("discovery") or {}
        shift(discovery, "last_full_walk", "changes_through")
        shift(discovery.get("rolling") or {}, "reread_from", "cycle_started")
    return moved


def reachable_records(emulator: FreshchatEmulator, stream: str) -> List[Mapping[str, Any]]:
    """What a complete sync must return now: the API's records, reached the way the API allows, plus derived fields.

    The CDK's message serializer leaves out top-level fields whose value is null, so the truth does too.
    """
    return [{key: value for key, value in record.items() if value is not None} for record in _api_records(emulator, stream)]


def _api_records(emulator: FreshchatEmulator, stream: str) -> List[Mapping[str, Any]]:
    data = emulator.data
    if stream in ("conversations", "messages"):
        listed = {conversation_id for ids in data.user_conversations.values() for conversation_id in ids}
        key = "conversation_id"
        return [record for record in data.records(stream) if record[key] in listed and record[key] in data.conversations]
    if stream == "outbound_messages":  # derived here independently of the connector's own code
        return [{**record, "created_time": _iso_from_epoch_ms(record["created_on"])} for record in data.records(stream)]
    return data.records(stream)


def _iso_from_epoch_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def by_key(records: Iterable[Mapping[str, Any]], stream: str) -> Dict[Any, Mapping[str, Any]]:
    return {record[primary_key(stream)]: record for record in records}
