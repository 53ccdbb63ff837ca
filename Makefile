# Two commands: `make demo` (set up + run the pipeline on a synthetic CRM) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-slow lint typecheck pytest setup clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]' --config-settings editable_mode=strict
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)
	@# strict editable installs link files at install time: refresh to pick up new modules
	$(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict

demo: setup
	$(BIN)/leadscore demo

lint: setup
	$(BIN)/ruff format --check src features training serving tests benchmarks
	$(BIN)/ruff check src features training serving tests benchmarks

typecheck: setup
	$(BIN)/mypy -p leadscore

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

# the slow tests CI leaves out (~14 min on 2 cores): run them before a release
test-slow: setup
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) build dist *.egg-info data
