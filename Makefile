# Carnet — `make help` lists the targets. Two commands on a fresh machine: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export CARNET_VAR_DIR ?= $(CURDIR)/var

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install Carnet with its dev tools

run: $(STAMP) ## serve the portal and APIs on http://127.0.0.1:8000 (SQLite, demo data, local SMTP sink)
	CARNET_MODE=demo $(PY) manage.py migrate --noinput -v0
	CARNET_MODE=demo $(PY) manage.py demo
	CARNET_MODE=demo $(PY) manage.py smtp_sink & sink=$$!; CARNET_MODE=demo $(PY) manage.py db_worker -v0 & tasks=$$!; CARNET_MODE=demo $(PY) manage.py deliver_notifications --loop & retries=$$!; trap "kill $$sink $$tasks $$retries" EXIT; \
	  CARNET_MODE=demo $(PY) manage.py runserver 127.0.0.1:8000

serve: $(STAMP) ## production-style server: gunicorn, several workers (set DATABASE_URL, SECRET_KEY…)
	$(PY) manage.py collectstatic --noinput -v0
	$(VENV)/bin/gunicorn carnet.wsgi:application --chdir src --bind $${BIND:-127.0.0.1:8000} \
	  --workers $${WORKERS:-4} --worker-class sync --max-requests 10000 --max-requests-jitter 500

system-deps: ## install system packages the tests need (PostgreSQL, Chromium, poppler, fonts, axe-core)
	tools/ensure-system-deps

check: $(STAMP) ## lint (ruff), format check, types (mypy), import contracts, migrations up to date
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy src/carnet
	$(VENV)/bin/lint-imports
	CARNET_MODE=test $(PY) manage.py makemigrations --check --dry-run

test-sqlite: $(STAMP) ## the pytest suite on SQLite
	CARNET_MODE=test DATABASE_URL= $(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-postgres: $(STAMP) ## the pytest suite on a throwaway PostgreSQL cluster
	CARNET_MODE=test tools/with-postgres $(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: $(STAMP) system-deps check ## everything CI runs: system deps, checks, tests on SQLite then PostgreSQL
	@start=$$(date +%s); \
	echo "== pytest on SQLite"; $(MAKE) --no-print-directory test-sqlite || exit 1; \
	echo "== pytest on PostgreSQL"; $(MAKE) --no-print-directory test-postgres || exit 1; \
	echo "== tests done in $$(( $$(date +%s) - start )) s (SQLite and PostgreSQL)"

bench: $(STAMP) system-deps ## benchmarks, not part of `make test`: documents API (PATIENTS=100000 DOCUMENTS=2000000 for the full set), messaging gateway
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
	CARNET_MODE=test tools/with-postgres $(PY) bench/documents.py \
	  --patients $${PATIENTS:-2000} --documents $${DOCUMENTS:-40000} --duration $${DURATION:-10}
	CARNET_MODE=test tools/with-postgres sh -c 'MESSAGING_BENCH_DATABASE_URL=$$DATABASE_URL \
	  $(PY) bench/messaging_gateway.py --messages $${MESSAGES:-200}'

screenshots: $(STAMP) system-deps ## regenerate docs/screenshots/ (profile at phone and desktop width, synthesis PDF)
	CARNET_MODE=test DATABASE_URL= CARNET_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots \
	 $(VENV)/bin/pytest -q tests/browser/test_profile_screenshots.py

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) var node_modules

.PHONY: help install run serve system-deps check test-sqlite test-postgres test bench screenshots clean
