# Switchboard: `make run` serves the hub on SQLite with a demo workspace; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Switchboard needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/switchboard serve --migrate --demo-if-empty

system-deps:
	bash scripts/install-system-deps.sh

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	-$(BIN)/python bench/ingest.py
	-$(BIN)/python bench/timeline.py
	-$(BIN)/python bench/imap.py
	-$(BIN)/python bench/auth.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
