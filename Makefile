# Two commands for a new user on a fresh machine:
#   make demo   creates .venv if needed, installs perpscope, runs the demo on the bundled real data
#   make test   creates .venv if needed, installs perpscope with its dev tools, runs lint, types,
#               the layer contract and the full test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean browser

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/perpscope demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# Chromium renders PNG charts (kaleido) and runs the dashboard's browser tests. Installed from Debian's
# packages when missing and possible; without it those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ) \
	  || echo "note: chromium not installed; PNG and browser tests will skip"

test: lint browser
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) perpscope-demo .pytest_cache .mypy_cache .ruff_cache
