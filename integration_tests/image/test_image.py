"""The connector's image, run as Airbyte runs it: a container per command, files mounted in, JSON lines out.

Run by integration_tests/image/run.sh (`make test`), which builds the image and passes it with
`--connector-image`; `docker` is whatever runs containers (run.sh puts podman behind that name). The
emulator runs on the host's loopback, so the containers share the host's network, except `spec`,
which must need none. The CDK's image tests run in the same session (integration_tests/test_standard.py):
`spec`, `check` with the good and a wrong key, `discover` and `read` in the image.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from source_freshchat.run import CANCELLED_EXIT_CODE, CANCELLED_MESSAGE

from ..emulator import Behaviour, FreshchatEmulator
from ..harness import CURSORS, STREAMS, ConnectorRun, by_key, reachable_records

pytestmark = pytest.mark.image_tests

REPO = Path(__file__).resolve().parents[2]
CATALOG = json.loads((REPO / "integration_tests" / "configured_catalog.json").read_text())
ENTRYPOINT = "/usr/local/bin/source-freshchat"
STOP_GRACE_SECONDS = 2  # how long `docker stop` waits after SIGTERM before it kills the container (exit code 137)


@pytest.fixture(scope="module")
def image(request) -> str:
    name = request.config.getoption("--connector-image")
    if not name:
        pytest.skip("needs --connector-image: integration_tests/image/run.sh builds the image and passes it")
    assert shutil.which("docker"), "no `docker` command: integration_tests/image/run.sh provides one"
    return name


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    completed = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert completed.returncode == 0, f"docker {' '.join(args)}: {completed.stderr[-2000:]}"
    return completed


def parsed(completed: subprocess.CompletedProcess) -> ConnectorRun:
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    return ConnectorRun(completed.returncode, messages, completed.stdout, completed.stderr)


@pytest.fixture(scope="module")
def emulator():
    with FreshchatEmulator(seed=12, users=20, conversations_per_user=2, messages_per_conversation=6) as running:
        yield running


@pytest.fixture
def mounted(tmp_path) -> Path:
    """A folder mounted at /secrets, readable by the image's user (tmp_path itself is private to this user)."""
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    return folder


def connector(image: str, mounted: Path, *args: str, files: Mapping[str, object], options: Sequence[str] = ()) -> ConnectorRun:
    """Runs one connector command in a fresh container, with `files` written as JSON into /secrets."""
    for name, content in files.items():
        (mounted / name).write_text(json.dumps(content))
    return parsed(
        docker("run", "--rm", "--network", "host", "-v", f"{mounted}:/secrets:ro", *options, image, *args, check=False, timeout=600)
    )


def statuses(run: ConnectorRun) -> Mapping[str, str]:
    return {
        m["trace"]["stream_status"]["stream_descriptor"]["name"]: m["trace"]["stream_status"]["status"]
        for m in run.of_type("TRACE")
        if m["trace"]["type"] == "STREAM_STATUS"
    }


def test_runs_as_a_non_root_user_with_the_entrypoint_airbyte_calls(image):
    config = json.loads(docker("image", "inspect", image, "--format", "{{json .Config}}").stdout)
    assert config["Entrypoint"] == [ENTRYPOINT]
    assert f"AIRBYTE_ENTRYPOINT={ENTRYPOINT}" in config["Env"]
    assert docker("run", "--rm", "--entrypoint", "id", image, "-un").stdout.strip() == "airbyte"
    assert docker("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() != "0"


def test_spec_needs_no_network(image):
    run = parsed(docker("run", "--rm", "--network", "none", image, "spec"))
    [spec] = run.of_type("SPEC")
    assert spec["spec"]["connectionSpecification"]["properties"]["api_key"]["airbyte_secret"] is True


def test_the_platforms_shell_form_of_the_entrypoint(image):
    """Airbyte's platform starts a connector as `sh -c 'eval "$AIRBYTE_ENTRYPOINT <command>"'`."""
    run = parsed(docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", 'eval "$AIRBYTE_ENTRYPOINT spec"'))
    assert len(run.of_type("SPEC")) == 1


def test_read_of_every_stream_on_a_read_only_root_filesystem(image, emulator, mounted):
    run = connector(
        image,
        mounted,
        *("read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"),
        files={"config.json": emulator.config(), "catalog.json": CATALOG},
        options=["--read-only"],
    )
    assert run.returncode == 0 and not run.errors(), run.errors() or run.stderr[-2000:]
    assert statuses(run) == {stream: "COMPLETE" for stream in STREAMS}
    for stream in STREAMS:
        assert by_key(run.records(stream), stream) == by_key(reachable_records(emulator, stream), stream), stream


def test_an_arbitrary_uid_can_run_a_read(image, emulator, mounted):
    """Kubernetes may start the container as a uid the image never created."""
    run = connector(
        image,
        mounted,
        *("read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"),
        files={"config.json": emulator.config(), "catalog.json": CATALOG},
        options=["--user", "12345:12345"],
    )
    assert run.returncode == 0 and not run.errors(), run.errors() or run.stderr[-2000:]
    assert set(statuses(run).values()) == {"COMPLETE"}


def test_incremental_read_then_read_with_its_state_returns_only_what_changed(image, emulator, mounted):
    incremental = {
        "streams": [
            {**configured, "sync_mode": "incremental", "cursor_field": [CURSORS[configured["stream"]["name"]]]}
            for configured in CATALOG["streams"]
            if configured["stream"]["name"] in CURSORS
        ]
    }
    files = {"config.json": emulator.config(), "catalog.json": incremental}
    read = ("read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json")
    first = connector(image, mounted, *read, files=files)
    assert first.returncode == 0 and not first.errors(), first.errors()
    assert len(first.records("messages")) == len(reachable_records(emulator, "messages"))

    conversation_id = next(iter(emulator.data.conversations))
    new_message = emulator.data.add_message(conversation_id)
    second = connector(image, mounted, *read, "--state", "/secrets/state.json", files={**files, "state.json": first.final_state()})
    assert second.returncode == 0 and not second.errors(), second.errors()
    assert new_message["id"] in {message["id"] for message in second.records("messages")}
    assert len(second.records("messages")) < len(first.records("messages"))


def test_sigterm_stops_a_running_read_within_the_grace_period(image, mounted):
    """Airbyte cancels a sync with SIGTERM; PID 1 gets no default action for it, so the connector must act itself.

    `docker stop` kills what is still running after the grace period (exit code 137): an exit code of 143
    means the connector stopped on its own within STOP_GRACE_SECONDS.
    """
    with FreshchatEmulator(seed=13, users=200, behaviour=Behaviour(latency_ms=300)) as slow:
        files = {"config.json": slow.config(), "catalog.json": CATALOG}
        for name, content in files.items():
            (mounted / name).write_text(json.dumps(content))
        container = f"source-freshchat-sigterm-{mounted.parent.name}"
        read = ("read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json")
        docker("run", "-d", "--name", container, "--network", "host", "-v", f"{mounted}:/secrets:ro", image, *read)
        try:
            deadline = time.monotonic() + 60
            while '"type":"RECORD"' not in docker("logs", container).stdout:
                running = docker("inspect", container, "--format", "{{.State.Running}}").stdout.strip() == "true"
                assert running and time.monotonic() < deadline, f"no record from the read: {docker('logs', container).stderr[-2000:]}"
                time.sleep(0.1)
            stop_started = time.monotonic()
            docker("stop", "-t", str(STOP_GRACE_SECONDS), container)
            print(f"\ndocker stop of a running read took {time.monotonic() - stop_started:.1f} s")
            exit_code = int(docker("inspect", container, "--format", "{{.State.ExitCode}}").stdout)
            run = parsed(docker("logs", container))
        finally:
            docker("rm", "-f", container, check=False)

    killed = f" (137: killed after ignoring SIGTERM for {STOP_GRACE_SECONDS} s)" if exit_code == 137 else ""
    assert exit_code == CANCELLED_EXIT_CODE, f"exit code {exit_code}{killed}"
    assert f"Received SIGTERM: {CANCELLED_MESSAGE}" in run.logs()
    assert CANCELLED_MESSAGE in run.errors()
    assert statuses(run).get("messages") != "COMPLETE", "the read ended before the signal: this test would prove nothing"


def test_the_build_context_leaves_out_development_files(image, tmp_path):
    """.dockerignore keeps the virtualenv, git history, secrets and caches out of what a build sends and may copy."""
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text(f"FROM {image}\nCOPY . /context\nUSER root\nRUN find /context -maxdepth 3 > /context-listing\n")
    tag = f"source-freshchat-context:{tmp_path.name.lower()}"
    docker("build", "--pull=never", "-q", "-f", str(containerfile), "-t", tag, str(REPO))
    try:
        listing = docker("run", "--rm", "--entrypoint", "cat", tag, "/context-listing").stdout.splitlines()
    finally:
        docker("rmi", "-f", tag, check=False)
    paths = {Path(line).relative_to("/context").as_posix() for line in listing if line != "/context"}
    assert "source_freshchat/run.py" in paths and "Dockerfile" in paths
    assert not {".venv", ".git", "secrets", "integration_tests/secrets", "demo-output"} & paths
    assert not [path for path in paths if "__pycache__" in path or path.endswith(".pyc")]
