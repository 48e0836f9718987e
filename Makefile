PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test lint bench bench-seed bench-followups bench-public bench-scale bench-embedders calibrate train-reader install install-test ingest clean

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

bench: bench-seed bench-followups bench-public

# citeqa vs the LangChain tutorial on the seed corpus: ingest, cold and warm answers, quality
bench-seed: install-test
	$(BIN)/python bench/bench.py

# follow-up questions (tests/data/followups.jsonl): with context, alone, asked in full
bench-followups: install-test
	$(BIN)/python bench/followups.py

# a synthetic collection of SIZE chunks (default 10000): ingest, re-ingest, cold/warm, memory
bench-scale: install-test
	$(BIN)/python bench/scale.py --size $(or $(SIZE),10000)

# each embedder's cold start, passages/s and question latency (EMBEDDER=path for your own)
bench-embedders: install-test
	$(BIN)/python bench/embedders.py $(if $(EMBEDDER),--embedder $(EMBEDDER),)

# XQuAD-even (zh + en questions) and CMRC 2018 dev from ../shared/eval: about 6 minutes
bench-public: install-test
	$(BIN)/python bench/public.py

# train the reader on XQuAD-even and CMRC 2018 dev (retrieval/reader.npz; the cross-encoder,
# retrieval/reader-cross.npz, not shipped), and the readers without each of them that
# `make calibrate` reads those collections with: about 50 minutes on 2 cores
READERS := /tmp/citeqa-readers
train-reader: install-test
	$(BIN)/python bench/train_reader.py --workdir /tmp/citeqa-calibrate --held-out $(READERS)
	$(BIN)/python bench/train_cross.py --sets cmrc,xquad,xquad-en --out retrieval/reader-cross.npz
	$(BIN)/python bench/train_cross.py --sets cmrc --out $(READERS)/cross-without-xquad.npz
	$(BIN)/python bench/train_cross.py --sets xquad,xquad-en --out $(READERS)/cross-without-cmrc.npz

# refit the answer-or-decline decision (retrieval/answer.py DECISION)
calibrate: install-test
	$(BIN)/python bench/calibrate.py --held-out-readers $(READERS)

clean:
	rm -rf .citeqa .pytest_cache .mypy_cache .ruff_cache
