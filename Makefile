# Two entry points on a fresh machine: `make demo` and `make test`. Both create .venv once
# and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.splatsim-installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned resolver would pull CUDA wheels.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/splatsim demo --out out/demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

bench: setup
	$(BIN)/splatsim bench engine --json

clean:
	rm -rf $(VENV) out build *.egg-info
