# OpenFlows: the two commands are `make serve` and `make test`; both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second environment with the last globus-sdk 3.x: the SDK contract tests must pass under 3.x and 4.x.
SDK3_VENV ?= .venv-sdk3
SDK3_STAMP := $(SDK3_VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8765

.PHONY: install serve test lint format bench bench-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SDK3_STAMP):
	$(PYTHON) -m venv $(SDK3_VENV)
	$(SDK3_VENV)/bin/python -m pip install --quiet 'globus-sdk==3.66.0' pytest
	touch $(SDK3_STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/openflows serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(SDK3_STAMP)
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)
	OPENFLOWS_TEST_BIN=$(abspath $(BIN))/openflows $(SDK3_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		-c tests/sdk/pytest-sdk3.ini --confcutdir=tests/sdk tests/sdk

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# the engine benchmark (issue 7): one table, written to bench/RESULTS.md, under 5 minutes
bench: $(STAMP)
	$(BIN)/python bench/engine.py

# every benchmark: language, service, engine, scale-out (PostgreSQL), transfer, Map
bench-all: bench
	$(BIN)/python bench/language.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/map.py --output bench/RESULTS.md

clean:
	rm -rf $(VENV) $(SDK3_VENV) .venv-globus-cli .venv-apt .venv-apt.lock build dist src/*.egg-info
