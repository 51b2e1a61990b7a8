# storemon — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080
BENCH_DATA ?= ../shared/data/store_status.csv.gz

.PHONY: help install run test test-fast lint format typecheck pytest bench bench-load bench-dashboard demo docs lock clean vendor screenshots

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the storemon command

demo: install  ## load the bundled demo data into the default database if it is empty
	$(BIN)/storemon demo

run: demo  ## install, load demo data, serve on http://$(HOST):$(PORT)
	$(BIN)/storemon serve --host $(HOST) --port $(PORT)

lint: install  ## ruff lint and format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

typecheck: install  ## mypy --strict on the package
	$(BIN)/mypy

pytest: install  ## the whole test suite, one line per test as it runs
	$(BIN)/pytest -v --durations=10

test: lint typecheck pytest  ## install, then ruff, mypy and the whole test suite (what CI runs)

test-fast: install  ## unit tests only: no end-to-end, PostgreSQL-server or benchmark tests
	$(BIN)/pytest -q -m "not e2e and not postgres and not bench and not slow"

docs: install  ## regenerate docs/cli.md from the commands' --help
	$(BIN)/python -m storemon.cli.reference > docs/cli.md

bench: install  ## whole path (start-up, CSV report, memory), CSV reader, engine, CLI, database, growth, Part 2 and scale-out (1x) benchmarks on the benchmark data set
	$(BIN)/python benchmarks/bench_path.py --status $(BENCH_DATA) --scales 1
	$(BIN)/python benchmarks/bench_ingest_csv.py --status $(BENCH_DATA)
	$(BIN)/python benchmarks/bench_engine.py --status $(BENCH_DATA)
	$(BIN)/python benchmarks/bench_store.py --status $(BENCH_DATA)
	$(BIN)/python benchmarks/bench_growth.py --status $(BENCH_DATA) --backends duckdb,postgres
	$(BIN)/python benchmarks/bench_engine.py --status $(BENCH_DATA) --growth-only --extended --dictionary-ids
	$(BIN)/python benchmarks/bench_insight.py --status $(BENCH_DATA) --backends duckdb,postgres
	$(BIN)/python benchmarks/bench_scale.py --status $(BENCH_DATA) --scales 1

bench-load: install  ## HTTP load benchmark: a local server on the benchmark data set
	$(BIN)/python benchmarks/load.py --data-dir $(dir $(BENCH_DATA))

bench-dashboard: install  ## dashboard page timings in headless Chromium on the benchmark set
	$(BIN)/python benchmarks/bench_dashboard.py --data-dir $(dir $(BENCH_DATA))

vendor: install  ## re-fetch the pinned front-end packages with npm and check their hashes
	$(BIN)/python -m storemon.web.vendoring fetch

screenshots: install  ## retake docs/screenshots/*.png with the browser tests' Chromium
	STOREMON_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/web -q -k screenshot

lock:  ## re-pin requirements.lock from a fresh environment
	rm -rf /tmp/storemon-lock && $(PYTHON) -m venv /tmp/storemon-lock
	/tmp/storemon-lock/bin/pip install --quiet -e '.[dev]'
	(echo '# Pinned dependencies for development and CI (pip freeze of a working environment).'; \
	 echo '# Regenerate: make lock'; \
	 /tmp/storemon-lock/bin/pip freeze --exclude-editable | grep -v '^storemon') > requirements.lock

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
