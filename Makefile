# ChargeOps: `make run` (set up and start everything) and `make test` (set up and run the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := app:create_app
export PATH := $(CURDIR)/$(BIN):$(PATH)
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/chargeops_test

.PHONY: run test test-sqlite test-postgres services chromium libreoffice npm migrate seed install clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $(STAMP)

# Browser libraries (chart.js, Leaflet, the Natural Earth basemap, idb) from the npm registry, exactly as package-lock.json says; served by app/vendor.py.
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NPM_STAMP)

npm: $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

services:
	@scripts/services.sh

chromium:
	@scripts/chromium.sh

libreoffice:
	@scripts/libreoffice.sh

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: install services seed
	@echo ""
	@echo "  ChargeOps on http://127.0.0.1:8080  -  every demo user's password: $${DEMO_PASSWORD:-chargeops-demo}"
	@echo "  users: admin manager dispatcher agent installer cpo centralops fieldteam procurement finance oemreporting oem_tata oem_mg"
	@echo ""
	$(BIN)/flask ingest-session
	$(BIN)/honcho start

# The whole suite on the embedded default (SQLite) and on PostgreSQL, both passes at once: each
# run has its own database, Celery queue and MQTT topic prefix, so they never cross-talk.
test: install services chromium libreoffice
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

# The browser tests run on the SQLite pass; the two longest single tests (the API fuzz, the make-run fleet,
# which brings its own SQLite database) on the PostgreSQL pass, so that the two passes take about as long.
test-sqlite: install
	$(BIN)/python -m pytest -m "not postgres_pass"

test-postgres: install
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest -m "not browser or postgres_pass"

clean:
	rm -rf $(VENV) var test-artifacts node_modules
