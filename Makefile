# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint catalogs bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/python -m bot run

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# After changing user-facing strings: refresh the template and merge it into every catalog.
catalogs: setup
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k Tr -k __ --no-location --sort-output \
		--project=Homeward -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --ignore-obsolete --no-fuzzy-matching

# The quick ones; `python -m bench.relay cost` (long) is run on its own, see bench/README.md.
bench: setup
	$(BIN)/python -m bench.onboarding
	$(BIN)/python -m bench.relay limits
	$(BIN)/python -m bench.knowledge
