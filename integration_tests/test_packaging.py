"""The Docker image's install, without a container: stage what the Dockerfile copies, install it as its RUN lines do, run the entry point.

This reads the Dockerfile itself, so a file the image forgets to COPY or an install step that breaks
fails here too, in seconds and with no container engine; integration_tests/image/ builds and runs the
real image.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .emulator import FreshchatEmulator
from .harness import STREAMS, configured_catalog, run_connector

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(keyword: str) -> list:
    """Arguments of every Dockerfile instruction with this keyword, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1].strip() for line in joined.splitlines() if line.strip().upper().startswith(keyword + " ")]


def entrypoint() -> str:
    [value] = instructions("ENTRYPOINT")
    [command] = json.loads(value)
    return command


def pip_installs() -> list:
    """The arguments of each `pip install` the Dockerfile runs, in order (dependencies from the lock, then the package)."""
    installs = []
    for command in instructions("RUN"):
        if "pip install" in command:
            words = shlex.split(command.split("&&")[0])
            installs.append(words[words.index("install") + 1 :])
    return installs


def test_airbyte_entrypoint_is_the_entrypoint_command():
    [env] = [value for value in instructions("ENV") if value.startswith("AIRBYTE_ENTRYPOINT")]
    assert env.split("=", 1)[1].strip('"') == entrypoint()
    assert entrypoint() == "/usr/local/bin/source-freshchat"  # where pip puts console scripts in the python image


def test_image_runs_as_a_non_root_user_with_a_writable_home():
    [user] = instructions("USER")
    assert user not in ("root", "0")
    assert "--create-home" in " ".join(instructions("RUN")) and instructions("WORKDIR")[-1] == f"/home/{user}"


@pytest.fixture(scope="module")
def image_like_install(tmp_path_factory):
    """A fresh virtualenv holding exactly what the image would: the COPYed files, installed by the RUN lines' pip arguments."""
    context = tmp_path_factory.mktemp("image") / "integration_code"
    context.mkdir()
    for copy in instructions("COPY"):
        *sources, destination = copy.split()
        for source in sources:
            target = context / destination / Path(source).name if destination.endswith("/") else context / destination
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(REPO / source, target)
    venv = context.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for install in pip_installs():
        arguments = [str(context) if argument == "." else argument for argument in install]
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *arguments], cwd=context, check=True)
    return venv / "bin" / Path(entrypoint()).name


def test_installed_entrypoint_answers_spec(image_like_install, tmp_path):
    run = run_connector(tmp_path, "spec", executable=image_like_install)
    assert run.returncode == 0
    assert run.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]["api_key"]["airbyte_secret"] is True


def test_installed_entrypoint_reads_every_stream(image_like_install, tmp_path):
    with FreshchatEmulator(seed=5, users=6) as emulator:
        catalog = configured_catalog(tmp_path, emulator.config())
        run = run_connector(tmp_path, "read", emulator.config(), catalog, executable=image_like_install)
    assert run.returncode == 0 and not run.errors()
    assert {name for name in STREAMS if run.records(name)} == set(STREAMS)
