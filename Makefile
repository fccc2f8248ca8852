# proxyd: `make run` serves on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# A hung smoke run fails instead of holding CI forever (the benchmark stops its processes on SIGTERM;
# --foreground keeps Ctrl-C reaching it).
BENCH_SMOKE_TIMEOUT ?= 600

.PHONY: install run migrate test check format bench bench-smoke clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[test,dev,postgresql,mysql]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/proxyd serve --migrate

migrate: install
	$(BIN)/proxyd migrate apply

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

# Every phase for a few seconds: exits non-zero when a phase fails (the figures mean little).
bench-smoke: install
	timeout --foreground -k 30 $(BENCH_SMOKE_TIMEOUT) $(BIN)/python -m bench --smoke --out bench/results/smoke

clean:
	rm -rf $(VENV) build *.egg-info
