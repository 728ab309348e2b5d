# The two commands the README starts with; each sets itself up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint setup clean setup-prod lock

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/mass-alert demo

test: $(STAMP)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL-$(TEST_DATABASE_URL)} $(BIN)/python -m pytest

# The gates .ci/run applies before the tests: lint, formatting, and mypy --strict (files set in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(PROD_VENV) mass_alert.db* reports demo-output

# Production install, as the image does it: scripts/install-prod.sh into a fresh PROD_VENV (locked, hashed).
PROD_VENV ?= .venv-prod
setup-prod:
	rm -rf $(PROD_VENV)
	PYTHON=$(PY) scripts/install-prod.sh $(PROD_VENV)

# Refresh requirements.lock from pyproject's runtime dependencies (README "Deploy" > "Upgrades"): keeps
# current pins where still allowed; `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest allowed.
# Only PyPI is consulted (no local pip configuration), so the lock's hashes are PyPI's.
LOCK_FLAGS ?=
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	  $(BIN)/pip-compile --quiet $(LOCK_FLAGS) --generate-hashes --allow-unsafe --strip-extras \
	  --build-deps-for wheel --no-emit-index-url --output-file requirements.lock pyproject.toml
