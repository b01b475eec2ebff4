"""The emulator's HTTPS: a certificate made at start that clients trust through a CA bundle, and its connection counter."""

import os

import pytest
import requests

from integration_tests.emulator import FreshchatEmulator


def get(emulator: FreshchatEmulator, session: requests.Session) -> int:
    # per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE in the environment
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    return session.get(emulator.url + "/v2/roles", headers=headers, verify=emulator.ca_bundle or True, timeout=10).status_code


def test_tls_serves_https_to_clients_that_trust_its_bundle_and_counts_connections():
    with FreshchatEmulator(users=2, tls=True) as emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        kept_alive = requests.Session()
        assert [get(emulator, kept_alive) for _ in range(5)] == [200] * 5
        assert emulator.connections_opened == 1  # keep-alive: five requests, one handshake
        assert get(emulator, requests.Session()) == 200 and emulator.connections_opened == 2
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(emulator.url + "/v2/roles", timeout=10)  # the system's CAs do not know it
        emulator.reset_counters()
        assert emulator.connections_opened == 0
        bundle = emulator.ca_bundle
    assert not os.path.exists(bundle)  # the certificate and its key go with the emulator


def test_plain_http_stays_the_default_and_counts_connections_too():
    with FreshchatEmulator(users=2) as emulator:
        assert emulator.url.startswith("http://") and emulator.ca_bundle is None
        session = requests.Session()
        assert [get(emulator, session) for _ in range(3)] == [200] * 3 and emulator.connections_opened == 1
