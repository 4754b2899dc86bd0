# pytorch-path: every target runs the project's own virtual environment (.venv).
# Learners:    make setup, then make check stage=1 (or ex=1.3, optionally target=PATH)
# Maintainers: make test, make lint, make bench, make dev-check, make mutants stage=1

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLI    := $(BIN)/pytorch-path

stage  ?=
ex     ?=
target ?=
seed   ?=

SELECTION := $(if $(ex),$(ex),$(if $(stage),$(stage),all))
CHECK_ARGS := $(if $(target),--target $(target),) $(if $(seed),--seed $(seed),)

.PHONY: help setup check test test-fast lint format bench dev-check notebooks mutants clean

help:
	@echo "make setup                 create .venv, install pytorch-path, make your workspace/"
	@echo "make check stage=1         grade your stage 1 exercises (or ex=1.3, target=PATH, seed=N)"
	@echo "make test                  run the project's own tests"
	@echo "make lint                  ruff and mypy"
	@echo "make bench                 time checks against the 'import torch' floor"
	@echo "make dev-check             check the curriculum's consistency"
	@echo "make notebooks             regenerate notebooks/ from the stubs and lessons"
	@echo "make mutants stage=1       mutate the reference solutions; list what the graders miss"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Your own workspace/ (git-ignored) is made from the stubs once; curriculum/ stays pristine.
setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@test -d workspace || $(CLI) init workspace
	@$(CLI) doctor

# A check that ran is a success for make (no "Error 1" line under the report); a usage
# error still fails. `pytorch-path check` itself exits 1 when an exercise did not pass.
check:
	@test -x $(CLI) || { echo "run 'make setup' first"; exit 2; }
	@$(CLI) check $(SELECTION) $(CHECK_ARGS); status=$$?; [ $$status -le 1 ] || exit $$status

# The project's tests on $(JOBS) processes (pytest-xdist): about 8 minutes on 2 cores,
# mostly the curriculum runs (every solution under 3 seeds, every stub, every known-wrong
# variant). JOBS=1 runs them in this process.
JOBS ?= 2

test:
	$(BIN)/python -m pytest $(if $(filter 1,$(JOBS)),,-n $(JOBS))

test-fast:
	$(BIN)/python -m pytest -m "not slow" $(if $(filter 1,$(JOBS)),,-n $(JOBS))

lint:
	$(BIN)/ruff check src tests graders solutions curriculum scripts hatch_build.py
	$(BIN)/ruff format --check src tests graders solutions curriculum scripts hatch_build.py
	$(BIN)/mypy

format:
	$(BIN)/ruff format src tests graders solutions curriculum scripts hatch_build.py
	$(BIN)/ruff check --fix src tests graders solutions curriculum scripts hatch_build.py

bench:
	$(BIN)/python scripts/bench.py

dev-check:
	$(CLI) dev-check

notebooks:
	$(CLI) notebooks notebooks

# Small seeded mutations of the reference solutions that no grader notices (ex=, stage=).
mutants:
	$(CLI) mutants $(SELECTION) $(if $(seed),--seed $(seed),)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
