# Two commands from a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
ORDERS  := $(VENV)/bin/orders
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test lint fmt unit integration dev-up dev-down clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make demo: install, start the real local stack, run the scenarios, print evidence, stop.
demo: venv
	$(ORDERS) dev up || { $(ORDERS) dev down; exit 1; }
	$(ORDERS) demo; rc=$$?; $(ORDERS) dev down || rc=1; exit $$rc

## make test: lint + types, unit tests, integration tests against the real stack.
test: venv lint
	$(PY) -m pytest -q -p no:cacheprovider tests $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy orders workflows activities workers tests

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv
	$(PY) -m pytest -q tests/integration

dev-up: venv
	$(ORDERS) dev up

dev-down: venv
	$(ORDERS) dev down

clean: dev-down
	rm -rf .orders
