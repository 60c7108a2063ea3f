# Every target bootstraps .venv itself, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIM    := $(VENV)/bin/tanium-sim
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: install install-redis run serve test check qa loadtest loadtest-distributed bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) install-redis  ## create .venv and install the project with its dev tools (+ redis-server)

# The Redis tier of the tests and `make loadtest-distributed` need a redis-server (or valkey-server);
# nothing else does. Installed with apt-get when root; otherwise one line says how. Never fails.
install-redis:  ## install redis-server with apt-get when missing (root only; prints how otherwise)
	@if command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 \
		|| [ -n "$$TANIUM_SIM_REDIS_SERVER" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
		|| echo "install-redis: apt-get could not install redis-server; the Redis tier of the tests will skip"; \
	else \
		echo "install-redis: no redis-server: run 'sudo apt-get install redis-server' (or set TANIUM_SIM_REDIS_SERVER) for the Redis tests and make loadtest-distributed"; \
	fi

run: $(STAMP)  ## the main job end to end: simulator + collect every endpoint + inventory summary
	$(SIM) run $(ARGS)

serve: $(STAMP)  ## run the simulator in the foreground (ARGS="--endpoints 100 --seed 7")
	$(SIM) serve $(ARGS)

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest $(ARGS)

check: $(STAMP)  ## formatting, lint and types
	$(VENV)/bin/ruff format --check simulator client tests loadtests
	$(VENV)/bin/ruff check simulator client tests loadtests
	$(VENV)/bin/mypy

# The CI-sized fault matrix; the full one (docs/qa.md): make qa QA_SEEDS=10 QA_ENDPOINTS=20
QA_SEEDS     ?= 2
QA_ENDPOINTS ?= 3

qa: $(STAMP)  ## every scenario × QA_SEEDS seeds × QA_ENDPOINTS endpoints, reference client; JUnit/JSON in reports/
	@mkdir -p reports
	$(SIM) qa --seeds $(QA_SEEDS) --endpoints $(QA_ENDPOINTS) \
		--junit reports/qa-junit.xml --json reports/qa.json $(ARGS)

# Load test knobs: make loadtest LOADTEST_TIME=5m LOADTEST_USERS=40 LOADTEST_ARGS="--slo-p95-workflow-s 3"
LOADTEST_TIME  ?= 60s
LOADTEST_USERS ?= 12
LOADTEST_ARGS  ?=

loadtest: $(STAMP)  ## simulator on 127.0.0.1 + Locust headless for LOADTEST_TIME; CSV/HTML in reports/; exit = SLO verdict
	@mkdir -p reports
	$(VENV)/bin/locust -f loadtests/locustfile.py --headless --start-simulator --sim-endpoints 10000 \
		--working-set 32 -u $(LOADTEST_USERS) -r $(LOADTEST_USERS) -t $(LOADTEST_TIME) --stop-timeout 15 \
		--csv reports/loadtest --html reports/loadtest.html --only-summary $(LOADTEST_ARGS)

# Several simulator processes on one Redis, loaded by Locust in several processes (docs/scaling.md):
# make loadtest-distributed SIM_WORKERS=4 LOCUST_PROCESSES=4 REDIS_URL=redis://10.0.0.5:6379/0
SIM_WORKERS      ?= 2
LOCUST_PROCESSES ?= 2
REDIS_URL        ?=
DISTRIBUTED_REPORTS ?= reports/loadtest-distributed

loadtest-distributed: $(STAMP)  ## Redis + serve --workers SIM_WORKERS --store + Locust in LOCUST_PROCESSES processes; reports/
	$(PY) loadtests/distributed.py --sim-workers $(SIM_WORKERS) --locust-processes $(LOCUST_PROCESSES) \
		--redis-url "$(REDIS_URL)" --users $(LOADTEST_USERS) --time $(LOADTEST_TIME) \
		--reports $(DISTRIBUTED_REPORTS) -- $(LOADTEST_ARGS)

bench: $(STAMP)  ## every loadtests/bench_*.py; figures, machine, date and command into loadtests/RESULTS.md
	$(PY) loadtests/bench_all.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
