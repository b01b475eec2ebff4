# Two commands from a fresh clone: `make demo` (set up, then sync the bundled emulator into DuckDB) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test benchmark benchmark-feed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --constraint requirements.lock -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m integration_tests.demo $(ARGS)

test: setup
	$(PY) -m pytest -m "not image_tests" $(ARGS)

benchmark: setup
	$(PY) -m integration_tests.benchmark $(ARGS)

benchmark-feed: setup
	$(PY) -m integration_tests.feed_benchmark $(ARGS)
