"""Bad config, catalog and state: a clear message, the exit status the Airbyte protocol expects, never a bare traceback.

- `check` with a config error exits 0 and reports a FAILED connection status naming the field;
- `read` with a config error exits non-zero with a TRACE error of failure_type config_error naming the field;
- a config, catalog or state file that cannot be read makes the command exit non-zero with a TRACE error
  naming the file and what it should hold (with no config there is no connection to report on);
- a state this version cannot read (a corrupted cursor) is logged and the stream read again, never a crash;
- no case sends a request for a config it refuses, and the API key appears nowhere in the output.

Most cases run the entry point in-process (`source_freshchat.run.launch`, exactly what `source-freshchat` runs; an exception
escaping it goes to the CDK's `sys.excepthook`, and the process would exit 1). Two cases run the
installed `source-freshchat` as a subprocess to anchor that emulation to the real exit codes and stderr.
"""

import json
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List, Mapping

import pytest
import requests

from source_freshchat import SourceFreshchat
from source_freshchat.run import launch

from .emulator import FreshchatEmulator
from .harness import ConnectorRun, run_connector

DELETE = object()  # an override that removes the field
GENERIC_MESSAGE = "Something went wrong in the connector"


@pytest.fixture(scope="module")
def emulator():
    with FreshchatEmulator(seed=9, users=2, conversations_per_user=1, messages_per_conversation=2) as running:
        yield running


@pytest.fixture
def api_key(emulator) -> str:
    """A key unique to the test, so a leak cannot hide behind another test's masking; the emulator accepts it."""
    key = f"fc-{uuid.uuid4().hex}-secret"
    emulator.api_key = key
    return key


@pytest.fixture
def sent(monkeypatch) -> List[requests.PreparedRequest]:
    """Every request the connector sends; none leaves the machine (a non-loopback host is refused at once)."""
    import backoff._sync
    from airbyte_cdk.sources.streams.http import rate_limiting

    # Retries are instant: only the CDK's retry handlers sleep here, never the emulator.
    no_wait = SimpleNamespace(sleep=lambda seconds: None, time=time.time, monotonic=time.monotonic)
    monkeypatch.setattr(rate_limiting, "time", no_wait)
    monkeypatch.setattr(backoff._sync, "time", no_wait)

    requests_sent: List[requests.PreparedRequest] = []
    real_send = requests.adapters.HTTPAdapter.send

    def send(adapter, request, *args, **kwargs):
        requests_sent.append(request)
        if requests.utils.urlparse(request.url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise requests.ConnectionError(f"test: refused to connect to {request.url}")
        return real_send(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return requests_sent


def run_in_process(tmp_path: Path, capfd, monkeypatch, command: str, config: Any, catalog: Any = None, state: Any = None) -> ConnectorRun:
    """`source-freshchat <command>` in this process; str values are written to the files as they are (malformed on purpose)."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # the entry point installs the CDK's hook: restore ours afterwards
    args = [command]
    for flag, value in (("config", config), ("catalog", catalog), ("state", state)):
        if value is not None:
            path = tmp_path / f"{flag}.json"
            path.write_text(value if isinstance(value, str) else json.dumps(value))
            args += [f"--{flag}", str(path)]
    capfd.readouterr()
    returncode = 0
    try:
        launch(SourceFreshchat(), args)
    except SystemExit as exit_:
        returncode = exit_.code if isinstance(exit_.code, int) else 1
    except Exception as error:  # what the interpreter does with an exception that escapes `run()`
        sys.excepthook(type(error), error, error.__traceback__)
        returncode = 1
    captured = capfd.readouterr()
    messages = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return ConnectorRun(returncode, messages, captured.out, captured.err)


def with_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    config = dict(base)
    for name, value in overrides.items():
        if value is DELETE:
            config.pop(name, None)
        else:
            config[name] = value
    return config


def catalog_of(*streams: str, sync_mode: str = "full_refresh") -> dict:
    return {
        "streams": [
            {
                "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                "sync_mode": sync_mode,
                "destination_sync_mode": "append",
            }
            for name in streams
        ]
    }


def error_traces(run: ConnectorRun) -> List[Mapping[str, Any]]:
    return [message["trace"]["error"] for message in run.of_type("TRACE") if message["trace"]["type"] == "ERROR"]


def assert_no_bare_traceback(run: ConnectorRun) -> None:
    """A traceback may sit in a trace's stack_trace or a log line; never as a message of its own, and never on stderr."""
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    non_protocol = [line for line in run.stdout.splitlines() if line.strip() and not line.startswith("{")]
    assert not non_protocol, non_protocol[:5]
    for error in error_traces(run):
        assert "Traceback" not in error["message"]
    for status in run.of_type("CONNECTION_STATUS"):
        assert "Traceback" not in (status["connectionStatus"].get("message") or "")


def assert_secret_kept(run: ConnectorRun, *secrets: str) -> None:
    for secret in secrets:
        if len(secret.strip()) >= 6 and secret.strip().lower() != "bearer":
            for form in {secret, json.dumps(secret)[1:-1], secret.strip()}:
                assert form not in run.stdout and form not in run.stderr, f"the API key {secret[:12]!r}... appears in the output"


# -- config: every field, every kind of wrong ------------------------------------------------------
FAR_FUTURE_DAY = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
BAD_CONFIGS = {
    # domain: wrong types, empty, whitespace, unicode, over-long
    "domain-missing": ("domain", DELETE),
    "domain-null": ("domain", None),
    "domain-number": ("domain", 123),
    "domain-bool": ("domain", True),
    "domain-list": ("domain", ["acme"]),
    "domain-object": ("domain", {"host": "acme"}),
    "domain-empty": ("domain", ""),
    "domain-whitespace": ("domain", " \t\n "),
    "domain-unicode-label": ("domain", "ácme"),
    "domain-unicode-host": ("domain", "例え.freshchat.com"),
    "domain-zero-width-space": ("domain", "acme\u200b.freshchat.com"),
    "domain-label-over-63": ("domain", "a" * 64 + ".freshchat.com"),
    "domain-over-long": ("domain", "acme" + "-x" * 5000 + ".freshchat.com"),
    # domain: pointing elsewhere
    "domain-other-host": ("domain", "evil.example.com"),
    "domain-suffix-trick": ("domain", "acme.freshchat.com.evil.com"),
    "domain-bare-freshchat": ("domain", "freshchat.com"),
    "domain-lookalike-tld": ("domain", "acme.freshchat.co"),
    "domain-private-ip": ("domain", "10.0.0.1"),
    "domain-private-ip-url": ("domain", "https://192.168.1.10"),
    "domain-link-local-metadata-ip": ("domain", "169.254.169.254"),
    "domain-public-ip": ("domain", "8.8.8.8"),
    "domain-public-ipv6": ("domain", "https://[2001:4860:4860::8888]"),
    "domain-http-non-loopback": ("domain", "http://acme.freshchat.com"),
    "domain-http-private-ip": ("domain", "http://10.0.0.1"),
    "domain-http-loopback-lookalike": ("domain", "http://localhost.evil.com"),
    "domain-ftp": ("domain", "ftp://acme.freshchat.com"),
    "domain-url-with-credentials": ("domain", "https://user:pass@acme.freshchat.com"),
    "domain-credentials-trick": ("domain", "acme.freshchat.com@evil.com"),
    "domain-url-with-path": ("domain", "https://acme.freshchat.com/api/v1"),
    "domain-url-with-query": ("domain", "https://acme.freshchat.com/v2?next=https://evil.com"),
    "domain-url-with-fragment": ("domain", "https://acme.freshchat.com#x"),
    "domain-url-with-port": ("domain", "https://acme.freshchat.com:8443"),
    # api_key
    "api_key-missing": ("api_key", DELETE),
    "api_key-null": ("api_key", None),
    "api_key-number": ("api_key", 12345678),
    "api_key-bool": ("api_key", True),
    "api_key-list": ("api_key", ["fc-list-key-123"]),
    "api_key-empty": ("api_key", ""),
    "api_key-whitespace": ("api_key", "  \t "),
    "api_key-bearer-only": ("api_key", "Bearer "),
    "api_key-unicode": ("api_key", "clé-secrète-123456"),
    "api_key-inner-space": ("api_key", "fc-key with-space-123"),
    "api_key-newline": ("api_key", "fc-key\nX-Injected: header"),
    "api_key-over-long": ("api_key", "k" * 100_000),
    # start_date
    "start_date-number": ("start_date", 20240101),
    "start_date-bool": ("start_date", True),
    "start_date-list": ("start_date", ["2024-01-01"]),
    "start_date-word": ("start_date", "yesterday"),
    "start_date-month-13": ("start_date", "2024-13-01"),
    "start_date-feb-30": ("start_date", "2024-02-30"),
    "start_date-day-first": ("start_date", "31/01/2024"),
    "start_date-fullwidth-digits": ("start_date", "２０２４-01-01"),
    "start_date-bad-offset": ("start_date", "2024-01-01T00:00:00+25:00"),
    "start_date-over-long": ("start_date", "2024-01-01" + "0" * 5000),
    "start_date-future": ("start_date", FAR_FUTURE_DAY),
    "start_date-far-future": ("start_date", "9999-12-31T23:59:59Z"),
    # num_workers
    "num_workers-string": ("num_workers", "8"),
    "num_workers-empty": ("num_workers", ""),
    "num_workers-float": ("num_workers", 8.5),
    "num_workers-bool": ("num_workers", True),
    "num_workers-null": ("num_workers", None),
    "num_workers-zero": ("num_workers", 0),
    "num_workers-negative": ("num_workers", -1),
    "num_workers-too-many": ("num_workers", 33),
    "num_workers-huge": ("num_workers", 10**30),
    # requests_per_minute
    "requests_per_minute-string": ("requests_per_minute", "60"),
    "requests_per_minute-empty": ("requests_per_minute", ""),
    "requests_per_minute-float": ("requests_per_minute", 1.5),
    "requests_per_minute-bool": ("requests_per_minute", True),
    "requests_per_minute-zero": ("requests_per_minute", 0),
    "requests_per_minute-negative": ("requests_per_minute", -5),
}


def bad_config(emulator, api_key: str, case: str) -> dict:
    field, value = BAD_CONFIGS[case]
    return with_overrides({"domain": emulator.url, "api_key": api_key}, {field: value})


def secrets_of(api_key: str, case: str) -> List[str]:
    field, value = BAD_CONFIGS[case]
    return [api_key] + ([value] if field == "api_key" and isinstance(value, str) else [])


def assert_names_the_field(message: str, field: str) -> None:
    assert GENERIC_MESSAGE not in message, message
    assert field in message.lower(), f"the message does not name `{field}`: {message[:500]!r}"


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_check_with_a_bad_config_reports_failed_and_exits_0(case, emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    field, _ = BAD_CONFIGS[case]
    run = run_in_process(tmp_path, capfd, monkeypatch, "check", bad_config(emulator, api_key, case))

    assert run.returncode == 0, (run.returncode, error_traces(run))
    statuses = [message["connectionStatus"] for message in run.of_type("CONNECTION_STATUS")]
    assert len(statuses) == 1 and statuses[0]["status"] == "FAILED", statuses
    assert_names_the_field(statuses[0]["message"], field)
    assert not sent, f"a request was sent for a refused config: {[request.url[:100] for request in sent]}"
    assert_no_bare_traceback(run)
    assert_secret_kept(run, *secrets_of(api_key, case))


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_read_with_a_bad_config_fails_with_a_config_error(case, emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    field, _ = BAD_CONFIGS[case]
    run = run_in_process(tmp_path, capfd, monkeypatch, "read", bad_config(emulator, api_key, case), catalog_of("roles"))

    assert run.returncode != 0
    assert not run.of_type("RECORD")
    errors = error_traces(run)
    assert errors, "no TRACE error"
    assert errors[0]["failure_type"] == "config_error", errors[0]
    assert_names_the_field(errors[0]["message"], field)
    assert not sent, f"a request was sent for a refused config: {[request.url[:100] for request in sent]}"
    assert_no_bare_traceback(run)
    assert_secret_kept(run, *secrets_of(api_key, case))


ACCEPTED_CONFIGS = {
    "api_key-with-bearer-prefix": lambda url, key: {"domain": url, "api_key": f"Bearer {key}"},
    "api_key-with-lowercase-bearer-and-spaces": lambda url, key: {"domain": url, "api_key": f"  bearer   {key} "},
    "domain-with-v2-path": lambda url, key: {"domain": f"{url}/v2/", "api_key": key},
    "domain-uppercase-and-padded": lambda url, key: {"domain": f"  {url.upper()}  ", "api_key": key},
    "start_date-empty-means-all-data": lambda url, key: {"domain": url, "api_key": key, "start_date": ""},
    "start_date-whitespace-means-all-data": lambda url, key: {"domain": url, "api_key": key, "start_date": "  "},
    "start_date-with-offset-and-fraction": lambda url, key: {"domain": url, "api_key": key, "start_date": "2024-01-01T00:00:00.123+02:00"},
    "every-optional-field-set": lambda url, key: {
        "domain": url,
        "api_key": key,
        "start_date": "2024-01-01",
        "num_workers": 32,
        "requests_per_minute": 1,
    },
    "unknown-extra-field-ignored": lambda url, key: {"domain": url, "api_key": key, "unknown": {"nested": [1]}},
}


@pytest.mark.parametrize("case", ACCEPTED_CONFIGS)
def test_check_accepts_the_documented_variants(case, emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    run = run_in_process(tmp_path, capfd, monkeypatch, "check", ACCEPTED_CONFIGS[case](emulator.url, api_key))

    assert run.returncode == 0
    statuses = [message["connectionStatus"] for message in run.of_type("CONNECTION_STATUS")]
    assert [status["status"] for status in statuses] == ["SUCCEEDED"], statuses
    assert sent and all(request.headers["Authorization"] == f"Bearer {api_key}" for request in sent)
    assert_secret_kept(run, api_key)


MALFORMED_CONFIG_FILES = {
    "not-json": "{domain: acme",
    "truncated-json": '{"domain": "acme", "api_key": "fc-trunc',
    "empty-file": "",
    "json-list": "[]",
    "json-null": "null",
}


@pytest.mark.parametrize("case", MALFORMED_CONFIG_FILES)
def test_a_malformed_config_file_is_a_clear_config_error(case, sent, tmp_path, capfd, monkeypatch):
    raw = MALFORMED_CONFIG_FILES[case]
    # No config can be read, so there is no connection to report on: every command fails with a config error naming the file.
    for command, run in (
        ("check", run_in_process(tmp_path, capfd, monkeypatch, "check", raw)),
        ("read", run_in_process(tmp_path, capfd, monkeypatch, "read", raw, catalog_of("roles"))),
    ):
        assert run.returncode != 0, command
        errors = error_traces(run)
        assert errors and errors[0]["failure_type"] == "config_error", (command, errors)
        assert_names_the_field(errors[0]["message"], "config file")
        assert_no_bare_traceback(run)
    assert not sent


# -- catalog ----------------------------------------------------------------------------------------
MALFORMED_CATALOGS = {
    "not-json": "{streams: [",
    "empty-file": "",
    "json-list": "[]",
    "no-streams-key": "{}",
    "streams-null": '{"streams": null}',
    "stream-without-stream-object": json.dumps({"streams": [{"sync_mode": "full_refresh", "destination_sync_mode": "append"}]}),
    "unknown-sync-mode": json.dumps(
        {
            "streams": [
                {
                    "stream": {"name": "roles", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                    "sync_mode": "sideways",
                    "destination_sync_mode": "append",
                }
            ]
        }
    ),
}


@pytest.mark.parametrize("case", MALFORMED_CATALOGS)
def test_read_with_a_malformed_catalog_fails_clearly(case, emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    config = {"domain": emulator.url, "api_key": api_key}
    run = run_in_process(tmp_path, capfd, monkeypatch, "read", config, MALFORMED_CATALOGS[case])

    assert run.returncode != 0
    assert not run.of_type("RECORD")
    errors = error_traces(run)
    assert errors, "no TRACE error"
    assert_names_the_field(errors[0]["message"], "catalog")
    assert_no_bare_traceback(run)
    assert_secret_kept(run, api_key)


def test_a_catalog_naming_a_stream_this_source_lacks_says_so(emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    config = {"domain": emulator.url, "api_key": api_key}
    run = run_in_process(tmp_path, capfd, monkeypatch, "read", config, catalog_of("roles", "tickets"))

    assert len(run.records("roles")) == len(emulator.data.roles)  # the streams that exist are read
    said = [error["message"] for error in error_traces(run)] + run.logs("WARN", "ERROR")
    assert any("tickets" in line for line in said), f"nothing tells the user that stream 'tickets' does not exist: {said}"
    assert_no_bare_traceback(run)
    assert_secret_kept(run, api_key)


# -- state ------------------------------------------------------------------------------------------
def stream_state(stream: str, value: Any) -> List[dict]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": value}}]


MALFORMED_STATES = {
    "not-json": "[{",
    "empty-file": "",
    "json-string": '"users"',
    "list-of-numbers": "[1, 2]",
    "bare-dict-of-streams": json.dumps({"users": {"updated_time": "2024-01-01T00:00:00Z"}}),
    "stream-message-without-stream": json.dumps([{"type": "STREAM"}]),
    "unknown-state-type": json.dumps([{"type": "SOMETIMES"}]),
    "stream-state-not-an-object": json.dumps(stream_state("users", "2024-01-01")),
}


@pytest.mark.parametrize("case", MALFORMED_STATES)
def test_read_with_a_malformed_state_fails_clearly(case, emulator, api_key, sent, tmp_path, capfd, monkeypatch):
    config = {"domain": emulator.url, "api_key": api_key}
    run = run_in_process(tmp_path, capfd, monkeypatch, "read", config, catalog_of("users", sync_mode="incremental"), MALFORMED_STATES[case])

    assert run.returncode != 0
    assert not run.of_type("RECORD")
    errors = error_traces(run)
    assert errors, "no TRACE error"
    assert_names_the_field(errors[0]["message"], "state")
    assert_no_bare_traceback(run)
    assert_secret_kept(run, api_key)


UNREADABLE_CURSORS = {
    "cursor-not-a-date": {"updated_time": "last tuesday"},
    "cursor-wrong-type": {"updated_time": [2024, 1, 1]},
    "cursor-in-the-future": {"updated_time": "2999-01-01T00:00:00.000Z"},
    "cursor-empty": {"updated_time": ""},
    "resume-checkpoint-garbage": {"updated_time": "2024-01-01T00:00:00.000Z", "resume": "halfway"},
}


@pytest.mark.parametrize("case", UNREADABLE_CURSORS)
@pytest.mark.parametrize("stream", ["users", "conversations"])
def test_a_state_this_version_cannot_read_is_logged_and_the_stream_read_again(
    case, stream, emulator, api_key, sent, tmp_path, capfd, monkeypatch
):
    config = {"domain": emulator.url, "api_key": api_key}
    state = stream_state(stream, UNREADABLE_CURSORS[case])
    run = run_in_process(tmp_path, capfd, monkeypatch, "read", config, catalog_of(stream, sync_mode="incremental"), state)

    assert run.returncode == 0 and not error_traces(run), error_traces(run)
    if case != "resume-checkpoint-garbage":  # a valid cursor with a garbage checkpoint: the checkpoint is ignored
        assert any("state" in line for line in run.logs("WARN")), run.logs("WARN")
        expected = {"users": emulator.data.users, "conversations": emulator.data.conversations}[stream]
        assert len(run.records(stream)) == len(expected)  # read again from the start
    assert_no_bare_traceback(run)
    assert_secret_kept(run, api_key)


# -- the real entry point ---------------------------------------------------------------------------
def test_the_installed_entry_point_reports_a_bad_domain_as_check_failed_and_exit_0(tmp_path):
    key = f"fc-{uuid.uuid4().hex}-secret"
    run = run_connector(tmp_path, "check", {"domain": "http://10.0.0.1", "api_key": key})

    assert run.returncode == 0, run.stderr[-2000:]
    statuses = [message["connectionStatus"] for message in run.of_type("CONNECTION_STATUS")]
    assert len(statuses) == 1 and statuses[0]["status"] == "FAILED" and "domain" in statuses[0]["message"], statuses
    assert_no_bare_traceback(run)
    assert_secret_kept(run, key)


def test_the_installed_entry_point_fails_a_read_with_a_bad_config_non_zero_with_a_config_error(tmp_path):
    key = f"fc-{uuid.uuid4().hex}-secret"
    run = run_connector(tmp_path, "read", {"domain": "acme.freshchat.com", "api_key": key, "start_date": "2999-01-01"}, catalog_of("roles"))

    assert run.returncode != 0
    errors = error_traces(run)
    assert errors and errors[0]["failure_type"] == "config_error" and "start_date" in errors[0]["message"], errors
    assert_no_bare_traceback(run)
    assert_secret_kept(run, key)
