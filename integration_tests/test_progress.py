"""What Airbyte's UI learns of a sync's progress: row estimates as protocol trace messages, and a steady progress log."""

import math
from collections import defaultdict

from airbyte_cdk.models import AirbyteMessageSerializer, EstimateType, TraceType
from airbyte_cdk.models import Type as MessageType

from .harness import configured_catalog, reachable_records, run_connector


def estimates_by_stream(run):
    """Row estimates in the order they came, per stream, each parsed by the protocol's own models."""
    estimates = defaultdict(list)
    for raw in run.of_type("TRACE"):
        message = AirbyteMessageSerializer.load(raw)
        if message.type == MessageType.TRACE and message.trace.type == TraceType.ESTIMATE:
            assert message.trace.estimate.type == EstimateType.STREAM
            estimates[message.trace.estimate.name].append(message.trace.estimate.row_estimate)
    return estimates


def test_a_sync_estimates_every_paged_stream_and_the_streams_reached_through_users(tmp_path, emulator):
    run = run_connector(tmp_path, "read", emulator.config(), configured_catalog(tmp_path, emulator.config()))
    assert run.returncode == 0, run.stderr[-2000:]
    estimates = estimates_by_stream(run)
    # Lists: exactly what their first page's pagination says, once.
    for stream in ("users", "agents", "groups", "channels", "roles"):
        assert estimates[stream] == [len(reachable_records(emulator, stream))], stream
    # Conversations and messages: refined as the walk goes, and close to the truth by the end.
    for stream in ("conversations", "messages"):
        actual = len(reachable_records(emulator, stream))
        assert estimates[stream] and abs(estimates[stream][-1] - actual) <= 0.1 * actual, (stream, estimates[stream], actual)
        assert len(estimates[stream]) <= 1 + math.log2(len(emulator.data.users))  # refreshed as the sample doubles, not per record


def test_the_estimate_of_users_comes_before_their_records(tmp_path, emulator):
    run = run_connector(tmp_path, "read", emulator.config(), configured_catalog(tmp_path, emulator.config(), ["users"]))
    is_estimate = [message["type"] == "TRACE" and message["trace"]["type"] == "ESTIMATE" for message in run.messages]
    first_record = next(index for index, message in enumerate(run.messages) if message["type"] == "RECORD")
    assert is_estimate.index(True) < first_record and sum(is_estimate) == 1
