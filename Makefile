# Two commands from a fresh clone: `make demo` (set up, then sync the bundled emulator into DuckDB) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test image-test benchmark benchmark-feed benchmark-scale mutation diagnose

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --constraint requirements.lock -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m integration_tests.demo $(ARGS)

# The image first: build it from this working tree and run it as Airbyte does (podman; see integration_tests/image/run.sh).
test: image-test
	$(PY) -m pytest -m "not image_tests" $(ARGS)

image-test: setup
	integration_tests/image/run.sh $(PY)

# What this account's API does, as a table and diagnose.json (see README): e.g. make diagnose ARGS="--config secrets/config.json"
diagnose: setup
	$(VENV)/bin/source-freshchat diagnose $(ARGS)

benchmark: setup
	$(PY) -m integration_tests.benchmark $(ARGS)

benchmark-feed: setup
	$(PY) -m integration_tests.feed_benchmark $(ARGS)

# One rolling-walk cycle of 20,000 users, syncs a simulated 2 hours apart: a few minutes of CPU.
benchmark-scale: setup
	$(PY) -m integration_tests.scale_benchmark $(ARGS)

# Slow (minutes per module), so not part of .ci/run: e.g. make mutation MODULES=source_freshchat/streams/parents.py ARGS="--jobs 2"
mutation: setup
	$(PY) -m integration_tests.mutation $(MODULES) $(ARGS)
