# The two commands: `make up` runs the platform on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
# Debian's own Python: its python3-gi (GStreamer bindings) must match the venv's minor version.
PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck check system venv footage bench clean

up: venv footage
	$(BIN)/sharpeye up

test: venv footage
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

bench: venv footage
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) var
