PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint format test demo chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check simops tests bench tools
	$(BIN)/ruff format --check simops tests bench tools
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix simops tests bench tools
	$(BIN)/ruff format simops tests bench tools

test: lint
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/python tools/demo.py

chaos: $(STAMP)
	cd bench && ../$(BIN)/python chaos.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
