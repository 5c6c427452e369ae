# Two commands on a bare machine with Python 3.11+ and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint chaos bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Set up (migrate, sample papers, topics, admin login) and start web + worker + beat.
run: $(STAMP)
	$(PY) -m config.devrun run

## The whole suite. DATABASE_URL / REDIS_URL choose the servers (CI: PostgreSQL, Redis).
test: $(STAMP)
	$(PY) -m config.devrun test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check config newsletter subscribers tests

clean:
	rm -rf var/screenshots .pytest_cache
