# Two commands for a newcomer: `make run` and `make test`. Both set the project up on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint test-unit test-workflow test-integration test-e2e setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## make run: the whole embedded stack (Temporal dev server + UI, simulators, worker, API)
run: $(STAMP)
	$(BIN)/withdraw-service dev

## make test: lint, then every test tier
test: $(STAMP) lint
	$(BIN)/pytest -ra

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test-unit: $(STAMP)
	$(BIN)/pytest -m unit
test-workflow: $(STAMP)
	$(BIN)/pytest -m workflow
test-integration: $(STAMP)
	$(BIN)/pytest -m integration
test-e2e: $(STAMP)
	$(BIN)/pytest -m e2e

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
