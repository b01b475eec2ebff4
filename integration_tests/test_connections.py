"""A sync over HTTPS, as against the real API: it trusts the emulator's certificate the way requests does, and reuses connections."""

import pytest

from .emulator import FreshchatEmulator
from .harness import configured_catalog, reachable_records, run_connector

POOL_FULL = "Connection pool is full"


@pytest.fixture
def tls_emulator(monkeypatch):
    with FreshchatEmulator(seed=5, users=60, conversations_per_user=2, messages_per_conversation=3, tls=True) as running:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", running.ca_bundle)  # inherited by the connector's process
        yield running


@pytest.mark.parametrize("num_workers", [4, None])
def test_a_sync_over_tls_opens_at_most_one_connection_per_worker_and_two_more(tmp_path, tls_emulator, num_workers):
    config = tls_emulator.config(**({"num_workers": num_workers} if num_workers else {}))
    catalog = configured_catalog(tmp_path, config)
    tls_emulator.reset_counters()
    run = run_connector(tmp_path, "read", config, catalog)
    assert run.returncode == 0 and not run.errors(), run.stderr[-2000:]
    assert len(run.records("messages")) == len(reachable_records(tls_emulator, "messages"))
    assert 1 <= tls_emulator.connections_opened <= (num_workers or 16) + 2
    assert POOL_FULL not in run.stderr and not [line for line in run.logs() if POOL_FULL in line]


def test_without_the_certificate_the_sync_fails_on_verification_instead_of_trusting_anyone(tmp_path, tls_emulator, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    run = run_connector(tmp_path, "check", tls_emulator.config())
    assert run.returncode != 0 or run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "FAILED"
    assert tls_emulator.request_counts == {}  # the handshake failed: no request reached the API
