"""Airbyte cancels a sync with SIGTERM: the installed entry point stops at once, says so, and exits 143.

Outside a container SIGTERM would end the process anyway (with -15, and without a word); in the image the
connector is PID 1, which gets no default action for it: integration_tests/image/test_image.py stops a
running read there.
"""

import json
import signal
import subprocess

from source_freshchat.run import CANCELLED_MESSAGE

from .emulator import Behaviour, FreshchatEmulator
from .harness import CONNECTOR, configured_catalog


def test_sigterm_stops_a_running_read_with_a_log_line_and_an_error_trace(tmp_path):
    # Slow enough that the read is far from done when the first record comes out.
    with FreshchatEmulator(seed=8, users=200, behaviour=Behaviour(latency_ms=200)) as emulator:
        (tmp_path / "config.json").write_text(json.dumps(emulator.config()))
        (tmp_path / "catalog.json").write_text(json.dumps(configured_catalog(tmp_path, emulator.config())))
        read = subprocess.Popen(
            [str(CONNECTOR), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        for line in read.stdout:
            lines.append(line)
            if '"type":"RECORD"' in line:
                break
        read.send_signal(signal.SIGTERM)
        rest, stderr = read.communicate(timeout=60)  # a guard against a hang, not a measure of speed

    messages = [json.loads(line) for line in lines + rest.splitlines() if line.startswith("{")]
    assert read.returncode == 143, stderr  # 128 + SIGTERM, as a shell and Airbyte report a process ended by it
    logs = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    assert f"Received SIGTERM: {CANCELLED_MESSAGE}" in logs
    [error] = [m["trace"]["error"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert error["message"] == CANCELLED_MESSAGE and error["failure_type"] == "transient_error"
    completed = {
        m["trace"]["stream_status"]["stream_descriptor"]["name"]
        for m in messages
        if m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS" and m["trace"]["stream_status"]["status"] == "COMPLETE"
    }
    assert "messages" not in completed, "the read ran to its end before the signal: this test would prove nothing"
