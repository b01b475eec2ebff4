# Two commands from a fresh clone: `make demo` (set up, then sync the bundled emulator into DuckDB) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test benchmark mutation

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

# Slow (minutes per module), so not part of .ci/run: e.g. make mutation MODULES=source_freshchat/streams/parents.py ARGS="--jobs 2"
mutation: setup
	$(PY) -m integration_tests.mutation $(MODULES) $(ARGS)
