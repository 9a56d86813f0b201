# Two commands for a newcomer: `make run` (install + the main job) and `make test` (install + every check).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXAMPLE := examples/esa-n5-2020-exomars-call-for-media.md

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: the ExoMars campaign on a simulated clock
## (SQLite in ./data, one file per post in ./outbox, feeds in ./public).
run: install
	$(BIN)/distrib demo

## Lint, type-check and the whole test suite (PostgreSQL tests run when DISTRIB_TEST_DATABASE_URL is set).
test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
