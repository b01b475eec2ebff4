import json
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_freshchat import SourceFreshchat
from source_freshchat.config import FreshchatSettings
from source_freshchat.rate_limit import FreshchatAPIBudget
from source_freshchat.sync import Sync

API = "https://acme.freshchat.com/v2"
API_KEY = "unit-test-secret-token-123"
CONFIG = {"domain": "acme", "api_key": API_KEY}


@pytest.fixture(autouse=True)
def no_sleep(mocker):
    """Retries wait for real in production; tests only count them."""
    return mocker.patch("time.sleep")


@pytest.fixture(autouse=True)
def report_clock(mocker):
    """The Extract API client's polls wait on its own clock, which moves only when it sleeps."""
    moments = [1000.0]

    def sleep(seconds: float) -> None:
        moments[0] += seconds

    mocker.patch("source_freshchat.extract.jobs.monotonic", lambda: moments[0])
    return mocker.patch("source_freshchat.extract.jobs.wait", side_effect=sleep)


def run_read(
    streams: Iterable[str],
    config: Optional[Mapping[str, Any]] = None,
    sync_mode: SyncMode = SyncMode.full_refresh,
    state: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> EntrypointOutput:
    catalog = CatalogBuilder()
    for name in streams:
        catalog.with_stream(name, sync_mode)
    state_messages = None
    if state is not None:
        builder = StateBuilder()
        for name, value in state.items():
            builder.with_stream_state(name, value)
        state_messages = builder.build()
    return read(SourceFreshchat(), dict(config or CONFIG), catalog.build(), state_messages)


def run_check(config: Mapping[str, Any], tmp_path: Path) -> EntrypointOutput:
    return _run_command(SourceFreshchat(), ["check", "--config", make_file(tmp_path / "config.json", dict(config))])


def records_of(output: EntrypointOutput, stream: str) -> List[Mapping[str, Any]]:
    return [message.record.data for message in output.records if message.record.stream == stream]


def final_state(output: EntrypointOutput, stream: str) -> Mapping[str, Any]:
    states = [m.state.stream.stream_state for m in output.state_messages if m.state.stream.stream_descriptor.name == stream]
    assert states, f"no state emitted for {stream}"
    state = states[-1]
    return state.__dict__ if hasattr(state, "__dict__") else dict(state)


def full_output(output: EntrypointOutput) -> str:
    return "\n".join(json.dumps(message) if isinstance(message, str) else str(message) for message in output._messages)


def envelope(key: str, items: List[Mapping[str, Any]], next_href: Optional[str] = None) -> Mapping[str, Any]:
    links = {"next_page": {"href": next_href, "rel": key, "type": "GET"}} if next_href else {}
    return {
        key: items,
        "pagination": {"total_items": len(items), "total_pages": 1, "current_page": 1, "items_per_page": 50},
        "links": links,
    }


def sync_of(settings: FreshchatSettings) -> Sync:
    """The sync of streams built outside `read`: nothing selected, so conversations and messages walk."""
    return Sync(settings, FreshchatAPIBudget(None))


def without_discovery(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """A fan-out stream's state less its discovery record, which unit_tests/discovery/ covers."""
    return {key: value for key, value in state.items() if key != "discovery"}


def query_of(request):
    return {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}


def user(user_id, updated="2025-01-01T00:00:00.000Z"):
    return {"id": user_id, "created_time": "2024-01-01T00:00:00.000Z", "updated_time": updated, "email": f"{user_id}@example.com"}


def conversation(conversation_id, updated="2025-01-01T00:00:00.000Z"):
    return {"conversation_id": conversation_id, "status": "new", "created_time": "2024-06-01T00:00:00.000Z", "updated_time": updated}


def message(message_id, conversation_id, created):
    return {"id": message_id, "conversation_id": conversation_id, "created_time": created, "message_parts": [{"text": {"content": "hi"}}]}


def mock_account_tree(requests_mock, conversations_by_user, messages_by_conversation=None, missing=()):
    requests_mock.get(f"{API}/users", json=envelope("users", [user(user_id) for user_id in conversations_by_user]))
    for user_id, conversation_ids in conversations_by_user.items():
        requests_mock.get(f"{API}/users/{user_id}/conversations", json={"conversations": [{"id": cid} for cid in conversation_ids]})
    for conversation_id in {cid for ids in conversations_by_user.values() for cid in ids}:
        if conversation_id in missing:
            requests_mock.get(
                f"{API}/conversations/{conversation_id}",
                status_code=404,
                json={"code": 404, "status": "CONVERSATION_NOT_FOUND", "message": "gone"},
            )
        else:
            requests_mock.get(f"{API}/conversations/{conversation_id}", json=conversation(conversation_id))
    for conversation_id, pages in (messages_by_conversation or {}).items():
        requests_mock.get(f"{API}/conversations/{conversation_id}/messages", [{"json": page} for page in pages])


def calls(requests_mock, path):
    return sum(1 for request in requests_mock.request_history if urlsplit(request.url).path == f"/v2/{path}")
