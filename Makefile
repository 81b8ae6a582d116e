# The two commands the README promises on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install serve bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## make demo: install, migrate, load playbooks, seed rules and demo data, create users, serve.
demo: install
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py demo
	@echo "Serving http://127.0.0.1:8000 (Ctrl-C to stop)"
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

## make test: lint, the architecture contracts (import-linter), then the whole suite on PostgreSQL and Redis (see tools/run_tests.py).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) tools/run_tests.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make bench: the EQL engine's throughput against orjson and the PyPI eql baseline (a few
## minutes; the first run builds the baseline's own virtualenv). See bench/README.md for the rest.
bench: install
	$(PY) -m bench.eql_throughput

clean:
	rm -rf $(VENV) staticfiles test-artifacts .pytest_cache .ruff_cache
