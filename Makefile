# Two commands on a bare machine with Python 3.11+ and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run digest test fuzz install lock lint chaos bench loadtest eval clean

# The dependencies come from the lock (pinned and hashed, as CI and the image install
# them); the project itself on top, without resolving anything again.
$(STAMP): pyproject.toml config/requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r config/requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Pin the dependencies again after a change to pyproject.toml (or to take newer
## releases): config/requirements.lock (the image) and requirements-dev.lock (make
## install, CI), each version with its hashes. Needs the package index.
PIP_COMPILE := $(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(STAMP)
	$(PY) -m pip install --quiet "pip-tools==7.6.2"
	$(PIP_COMPILE) --output-file config/requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --output-file config/requirements-dev.lock pyproject.toml

## Set up (migrate, sample papers, topics, admin login) and start web + worker + beat.
run: $(STAMP)
	$(PY) -m config.devrun run

## The newest day's digest to every active reader who has not had it, whatever their
## hour (in development: into the outbox). Reruns send nothing twice.
digest: $(STAMP)
	$(PY) -m config.devrun digest

## The whole suite. DATABASE_URL / REDIS_URL choose the servers (CI: PostgreSQL, Redis).
## Ends with the tests that took 5 s or more (the 30 slowest): where CI's time goes.
test: $(STAMP)
	$(PY) -m config.devrun test --durations=30 --durations-min=5 $(PYTEST_ARGS)

## The fuzz suite (tests/fuzz) RUNS times in a row, each on a new random seed with
## 1,000 examples per endpoint (tests/fuzz/repeat.py); stops at the first failure and
## prints its seed; SEED=N replays that run. The same DATABASE_URL / REDIS_URL as test.
RUNS ?= 1
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.repeat --runs $(RUNS) $(if $(SEED),--seed $(SEED)) $(PYTEST_ARGS)

## The fault matrix of sending (tests/chaos): real workers, a Redis of its own, a fake
## Postmark; needs DATABASE_URL=postgres://... Ends with a table: duplicates 0, missed 0.
chaos: $(STAMP)
	CHAOS=1 $(PY) -m config.devrun test tests/chaos -q -p no:cacheprovider $(PYTEST_ARGS)

## The digest benchmark (docs/benchmarks.md): N = 1,000, 10,000, 100,000 against the
## render floor, django-newsletter and 2 Celery workers. The figures of the docs are on
## DATABASE_URL=postgres://… and REDIS_URL; with neither, a temporary SQLite file and a
## Redis it starts itself. BENCH_ARGS passes options, e.g. --subscribers 1000.
DNL_VERSION := 1.2.1
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	test -d var/bench/django-newsletter/newsletter || $(PY) -m pip install --quiet \
		--target var/bench/django-newsletter "django-newsletter==$(DNL_VERSION)" \
		"sorl-thumbnail>=12.10" "Django>=5.2,<5.3"
	DEBUG=true $(PY) -m bench.digests $(BENCH_ARGS)

## The public pages under load (docs/benchmarks.md): gunicorn with production settings
## on loopback, locust headless; prints the table of the scenarios. Needs
## DATABASE_URL=postgres://… and REDIS_URL, each of its own. Run it without nice.
## LOADTEST_ARGS passes options, e.g. --seconds 30 --only home.
loadtest: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,loadtest]"
	$(PY) -m bench.loadtest $(LOADTEST_ARGS)

## Relevance on the labelled days (docs/relevance.md): P@5, R@10, empty digests and
## the feedback simulation, per default topic. On DATABASE_URL's database (the
## embedded SQLite file when unset), migrated first; the measurement writes nothing.
eval: $(STAMP)
	DEBUG=true $(PY) manage.py migrate --noinput -v0
	DEBUG=true $(PY) manage.py eval_relevance $(EVAL_ARGS)

## Lint: ruff, pinned in pyproject.toml (CI runs it before the tests).
lint: $(STAMP)
	$(VENV)/bin/ruff check config newsletter subscribers mail bench tests

clean:
	rm -rf var/screenshots .pytest_cache
