# Pertinent — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: install install-dev demo test test-fast lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[dev,embeddings,spark]'
	touch $@

# Sample data and server on the embedded default. Extra options: make demo DEMO_ARGS="--dataset movielens"
DEMO_ARGS ?=
demo: install
	$(VENV)/bin/pertinent demo $(DEMO_ARGS)

# The whole suite. scripts/with-services.sh installs (Debian packages) and starts a throwaway
# PostgreSQL when none is configured, runs the suite, and tears it down; scripts/ensure-chromium.sh
# installs Debian's Chromium for the browser tests when it is missing; scripts/ensure-node-clients.sh installs
# Node.js (Debian) when missing, Segment's JavaScript clients (npm ci, tests/clients/js) and bundles analytics.js;
# scripts/install-python-clients.sh installs analytics-python 1.4 beside the venv (.clients/; it clashes with the
# dev extras' clients); scripts/ensure-java.sh installs a Java runtime for the Spark tests (Debian's
# default-jre-headless) when missing.
test: install-dev
	scripts/install-python-clients.sh $(PY)
	scripts/ensure-chromium.sh scripts/ensure-node-clients.sh scripts/ensure-php.sh scripts/ensure-java.sh scripts/with-services.sh $(PY) -m pytest -n 2 $(PYTEST_ARGS)

# The inner loop: no PostgreSQL, no Redis, no browser, no real clients, no slow tests (the full `make test` stays
# the README's and CI's command).
test-fast: install-dev
	$(PY) -m pytest -n 2 -m "not postgres and not redis and not browser and not clients and not slow" $(PYTEST_ARGS)

# Style, formatting, the layering (import-linter contracts + no import cycles) and types.
lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(PY) scripts/check_layers.py
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format src tests benchmarks scripts
	$(VENV)/bin/ruff check --fix src tests benchmarks scripts

bench: install-dev
	scripts/with-services.sh $(PY) benchmarks/ingest.py --repeat 3

clean:
	rm -rf $(VENV) pertinent-data .pytest_cache .clients
