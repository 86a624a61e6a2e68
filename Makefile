# Kezek: `make run` serves the portal with its workers; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Defaults for `make run` only; a variable already in the environment always wins.
export HOST ?= 127.0.0.1
export PORT ?= 8000

.PHONY: run test test-new-year lint format install messages clean bench bench-scale bench-replay \
	bench-outage

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kezek needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: export DEBUG ?= 1
# Links in SMS and passkeys need the address the portal is served at.
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: install
	@$(PY) scripts/check_system_libraries.py
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_reference_data
	$(PY) manage.py load_demo_data
	$(PY) manage.py rotate_manifest_key --if-missing
	@echo ""
	@echo "  Kezek is starting at http://$(HOST):$(PORT)/ with the people above to sign in as."
	@echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs/    Stop with Ctrl+C."
	@echo ""
	exec $(PY) scripts/run_dev.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# axe-core for the accessibility checks of the browser tests; without npm those tests skip.
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund; touch $@; fi

# The suite runs in the portal's time zone from its first instant (Django sets TZ to it anyway
# once settings load): a clock moved by libfaketime then reads the same in every process the
# tests start (a Celery worker, `make run`), which parse FAKETIME in the zone they start in.
test test-new-year: export TZ = Asia/Almaty

test: lint node_modules/.package-lock.json
	$(PY) -m pytest $(PYTEST_ARGS)

# The date-sensitive tests again on a clock moved past the next New Year (libfaketime; CI runs
# this after `make test`), so a test or a feature that needs data of "today" that nobody has
# entered yet (next year's MRP …) fails here before the calendar gets there.
NEW_YEAR_CLOCK ?= $(shell echo $$(( $$(date +%Y) + 1 )))-01-05 10:00:00
DATE_SENSITIVE_TESTS := tests/fees tests/bookings tests/checkpoints tests/receipts tests/e2e \
	tests/core/test_pages.py
test-new-year: install node_modules/.package-lock.json
	@command -v faketime >/dev/null || { echo "needs faketime: apt-get install faketime"; exit 1; }
	faketime -f "@$(NEW_YEAR_CLOCK)" $(PY) -m pytest $(DATE_SENSITIVE_TESTS) $(PYTEST_ARGS)

# The slot rush and its neighbours under load, on PostgreSQL and Redis (bench/REPORT.md).
bench: install
	$(PY) bench/run.py

# A small and a national-size database, small-vs-large timings (bench/REPORT.md, bench/scale).
# BENCH_SCALE_ARGS="--bookings 1000000" for the national size.
bench-scale: install
	$(PY) -m bench.scale $(BENCH_SCALE_ARGS)

bench-replay: install
	$(PY) -m bench.replay $(BENCH_REPLAY_ARGS)

# A checkpoint cut off for 4 hours of a busy day (O1-O4): its section of bench/REPORT.md.
bench-outage: install
	$(PY) -m bench.outage $(BENCH_OUTAGE_ARGS)

# Needs GNU gettext (msgfmt); the compiled .mo files are committed so nothing else does.
messages: install
	$(PY) manage.py makemessages --all --no-obsolete --ignore ".venv/*" --ignore "tests/*" \
		--ignore "node_modules/*" --ignore "bench/*" --ignore "staticfiles/*" \
		--ignore "test-artifacts/*" --ignore "var/*"
	$(PY) manage.py compilemessages --ignore ".venv/*" --ignore "node_modules/*"

clean:
	rm -rf $(VENV) var staticfiles
