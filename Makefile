PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser lint format test demo chaos bench profile clean

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
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix simops tests bench tools
	$(BIN)/ruff format simops tests bench tools

# The dashboard's browser test drives Debian's Chromium: install it when missing and we may
# (root with apt-get); otherwise say why, and that test skips.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "could not install chromium and chromium-driver: the browser test will skip"; \
	else \
		echo "chromium/chromedriver missing and not root with apt-get: the browser test will skip"; \
	fi

test: lint browser
	$(BIN)/pytest -q --durations=25

demo: $(STAMP)
	$(BIN)/python -m tools.demo

chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

# CPU per SIM of a 10,000-SIM campaign, by process, against bench/baseline.json (exit 1 when a
# process is more than 15% above it): run it when campaign, client, store or emulator code changes.
bench: $(STAMP)
	$(BIN)/python -m bench.guard

# Where a 10,000-SIM campaign's CPU goes, by process and function (py-spy): profiles/profile.md.
profile: $(STAMP)
	$(BIN)/python -m bench.profile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
