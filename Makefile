PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test lint bench install install-test ingest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# torch is pinned first: this disk holds a CPU build of 2.13.0, anything else is a big download.
install-test: $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,bench]"

ingest: install
	$(BIN)/citeqa ingest

# the Telegram bot when CITEQA_TELEGRAM_TOKEN is set (.env), else the question prompt
run: ingest
	$(BIN)/citeqa start

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: install-test
	$(BIN)/python bench/bench.py

clean:
	rm -rf .citeqa .pytest_cache .mypy_cache .ruff_cache
