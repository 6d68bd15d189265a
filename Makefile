# Two commands on a fresh machine (see README):
#   make demo   install, synthesise Southwark, ingest it, run the pipeline, serve the web app
#   make test   install with the test tools (and Java for PySpark), then lint and test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PERSONS ?=

.PHONY: install install-dev java chromium demo serve test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[spark,dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# PySpark needs a Java runtime; install Debian's when the machine has none.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing a Java runtime for PySpark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# The browser tests drive Debian's chromium (never a downloaded browser build).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/phm demo $(if $(PERSONS),--persons $(PERSONS))
	$(BIN)/phm serve

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

serve: install
	$(BIN)/phm serve

test: install-dev java chromium lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: install-dev
	$(BIN)/python benchmarks/run.py --persons 300000

clean:
	rm -rf $(VENV) phm-data .pytest_cache .mypy_cache .ruff_cache .hypothesis
