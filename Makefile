# ChatwootAI — developer and operator entry points (README "Quick start").
#   make run    venv + install + .env with a fresh webhook token, then web and worker in the foreground
#   make test   venv + install with test extras, then pytest (tests/unit, tests/integration)
#   make lint | bench | clean

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# Stamp files: re-install only when pyproject.toml changed (or the venv was recreated).
STAMP      := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCHES    := ingest llm_cost pipeline

.PHONY: help run test soak lint bench clean

help:
	@echo "make run    create .venv, install, write .env (fresh webhook token) if missing, run web + worker"
	@echo "make test   install with test extras and run the test suite"
	@echo "make soak   the ten-minute soak test (50 webhooks/s, memory and p99 sampled)"
	@echo "make lint   ruff check"
	@echo "make bench  run the benchmarks in tests/bench/"
	@echo "make clean  remove .venv, caches and build files (keeps .env, data/ and logs/)"

# The interpreter: python3.11 when installed, else python3 if it is 3.11 or newer.
$(PY):
	@py="$$(command -v python3.11 || command -v python3 || true)"; \
	if [ -z "$$py" ] || ! "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		echo "make: Python 3.11 or newer is needed (Debian: apt-get install python3.11 python3.11-venv)" >&2; \
		exit 1; \
	fi; \
	echo "creating $(VENV) with $$py ($$("$$py" -V 2>&1))"; \
	"$$py" -m venv $(VENV) || { \
		rm -rf $(VENV); \
		echo "make: '$$py -m venv' failed; on Debian install the venv module: apt-get install python3-venv" >&2; \
		exit 1; }
	@$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e .
	@touch $@

# The test extras are a superset of the runtime install, so they satisfy `make run` too.
$(TEST_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e '.[test]'
	@touch $@ $(STAMP)

.env: | $(PY)
	$(PY) scripts/gen-env.py .env

run: $(STAMP) .env
	@VENV=$(VENV) bash scripts/run-local.sh

test: $(TEST_STAMP)
	$(PY) -m pytest

# The ten-minute soak (tests/reliability/test_soak.py); SOAK_SECONDS=60 for a quick look.
soak: $(TEST_STAMP)
	$(PY) -m pytest -m soak -s tests/reliability/test_soak.py

lint: $(TEST_STAMP)
	$(PY) -m ruff check .

bench: $(TEST_STAMP)
	@set -e; for b in $(BENCHES); do \
		if [ -f tests/bench/$$b.py ]; then \
			echo "== tests/bench/$$b.py"; $(PY) tests/bench/$$b.py; \
		else \
			echo "== tests/bench/$$b.py: not present, skipped"; \
		fi; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
