# Two commands from a fresh clone: `make demo` (set up, then sync the bundled emulator into DuckDB) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

PHASE := .ci/phase
NOT_IMAGE := -m "not image_tests" -p no:cacheprovider

.PHONY: setup demo test lint unit image-test integration test-under-load benchmark benchmark-feed benchmark-scale mutation diagnose

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --constraint requirements.lock -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m tools.demo $(ARGS)

# Quick phases first, so a style slip or a broken unit test shows in the first minute; each phase prints its duration.
test: lint unit image-test integration

lint: setup
	$(PHASE) lint sh -c '$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .'

unit: setup
	$(PHASE) unit $(PY) -m pytest $(NOT_IMAGE) unit_tests $(ARGS)

# Build the image from this working tree and run it as Airbyte does (podman; see integration_tests/image/run.sh).
image-test: setup
	$(PHASE) image integration_tests/image/run.sh $(PY)

integration: setup
	$(PHASE) integration $(PY) -m pytest $(NOT_IMAGE) integration_tests tools $(ARGS)

# Every test but the image's, with each core kept busy by a CPU hog that tools/under_load.py starts and stops.
test-under-load: setup
	$(PY) -m tools.under_load -- $(PY) -m pytest $(NOT_IMAGE) $(ARGS)

# What this account's API does, as a table and diagnose.json (see README): e.g. make diagnose ARGS="--config secrets/config.json"
diagnose: setup
	$(VENV)/bin/source-freshchat diagnose $(ARGS)

benchmark: setup
	$(PY) -m tools.benchmark $(ARGS)

benchmark-feed: setup
	$(PY) -m tools.feed_benchmark $(ARGS)

# One rolling-walk cycle of 20,000 users, syncs a simulated 2 hours apart: a few minutes of CPU.
benchmark-scale: setup
	$(PY) -m tools.scale_benchmark $(ARGS)

# Slow (minutes per module), so not part of .ci/run: e.g. make mutation MODULES=source_freshchat/rate_limit.py ARGS="--jobs 2"
mutation: setup
	$(PY) -m tools.mutation $(MODULES) $(ARGS)
