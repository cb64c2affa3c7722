# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.local-installed: requirements.txt requirements-local.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-local.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-local.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.local-installed $@

## run: start the whole portal (web, workers, scheduler, sweeper, private Redis) in the foreground
run: $(VENV)/.local-installed
	$(BIN)/python -m asyncportal.launcher run

## test: lint (ruff, import layering), type-check and run the whole suite in random order (private Redis unless REDIS_URL is set)
test: lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy .

pytest: $(VENV)/.dev-installed
	$(BIN)/python -m asyncportal.launcher test $(PYTEST_ARGS)

## bench: print the benchmark tables (each with its anchor measured in the same run); not part of `make test`
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.registration_intake
	$(BIN)/python -m bench.robot_throughput
	$(BIN)/python -m bench.worker_class

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache .hypothesis
