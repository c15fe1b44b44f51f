# The two commands of a fresh machine: `make run` and `make test`.
# Everything else here is what those two need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint layers typecheck unit bench bench-quick tools browser screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up and run the service: embedded SQLite, simulated carrier, http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/smsledger serve

## The HTTP load generator the read benchmarks drive (Debian's wrk), where apt can install it
tools:
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || \
	  echo "make: wrk is not installed; the HTTP read benchmarks will be skipped"

## The headless browser the console's tests drive (Debian's chromium; Playwright is
## pointed at it and never downloads one), where apt can install it
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: chromium is not installed; the console's browser tests will be skipped"

## Retake the README's console screenshots (docs/console/*.png) from the browser tests
screenshots: $(STAMP) browser
	SMSLEDGER_SCREENSHOTS=$(CURDIR)/docs/console $(BIN)/pytest tests/e2e/test_console_browser.py -k sqlite

## Set up and run everything CI runs: ruff, mypy --strict, the test suite on SQLite and PostgreSQL
test: $(STAMP) tools browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py
	$(MAKE) --no-print-directory layers
	$(BIN)/pytest -n 3 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py
	$(MAKE) --no-print-directory layers

## The layers contract (pyproject.toml) on the installed layout: a plain install into a
## scratch folder, since grimp finds modules by folder and the rooms are mapped
layers: $(STAMP)
	rm -rf $(VENV)/layers
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --target $(VENV)/layers .
	cd $(VENV)/layers && PYTHONPATH=. $(abspath $(BIN))/lint-imports $(CURDIR)/pyproject.toml

## Every benchmark beside its baselines; writes bench/report.md and bench/report.json (~30 min)
bench: $(STAMP) tools
	$(BIN)/python -m bench

bench-quick: $(STAMP) tools
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache
