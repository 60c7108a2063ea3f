# Every target bootstraps .venv itself, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIM    := $(VENV)/bin/tanium-sim
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: install install-redis install-chromium run serve test check mutate mutate-sample qa qa-teeth loadtest loadtest-screenshot loadtest-distributed bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) install-redis install-chromium  ## create .venv and install the project with its dev tools (+ redis-server, chromium)

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

# The browser tests (tests/browser) and `make screenshots` drive the system's Chromium through Playwright
# (no browser download). Installed with apt-get when root; otherwise one line says how. Never fails.
CHROMIUM ?= $(or $(TANIUM_SIM_CHROMIUM),/usr/bin/chromium)
install-chromium:  ## install chromium with apt-get when missing (root only; prints how otherwise)
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
		|| echo "install-chromium: apt-get could not install chromium; the browser tests will skip"; \
	else \
		echo "install-chromium: no $(CHROMIUM): run 'sudo apt-get install chromium' (or set TANIUM_SIM_CHROMIUM) for the browser tests and make screenshots"; \
	fi

run: $(STAMP)  ## the main job end to end: simulator + collect every endpoint + inventory summary
	$(SIM) run $(ARGS)

serve: $(STAMP)  ## run the simulator in the foreground (ARGS="--endpoints 100 --seed 7")
	$(SIM) serve $(ARGS)

# The tests run in TEST_WORKERS processes (pytest-xdist; 0: in this process alone). The default is three per
# core, at most 8: many tests wait on sockets, timers and child processes, and the extra workers fill that
# time; "worksteal" hands a finished worker the queued tests of a busy one, so the slow tests at the end
# of the list do not leave cores idle (docs/testing.md has the figures). Bytecode is written even where
# PYTHONDONTWRITEBYTECODE is set: otherwise every worker compiles and assertion-rewrites every module
# again (11 s per worker instead of 4.5 s).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1; print(min(8, 3 * n))')

test: $(STAMP)  ## the whole test suite, spread over the cores (TEST_WORKERS=0 for one process)
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(TEST_WORKERS) $(if $(filter 0,$(TEST_WORKERS)),,--dist worksteal) $(ARGS)

check: $(STAMP)  ## formatting, lint and types
	$(VENV)/bin/ruff format --check simulator client tests loadtests
	$(VENV)/bin/ruff check simulator client tests loadtests
	$(VENV)/bin/mypy

# Mutation testing (docs/testing.md): mutmut on each core module against the fast tests that exercise it,
# in mutants/<module>/ (results kept between runs). make mutate MODULE=backend (or "backend rules") for some.
MODULE ?=

mutate: $(STAMP)  ## mutmut on the core modules (MODULE=name for one); killed/total per module
	$(PY) tests/mutate.py $(MODULE) $(ARGS)

mutate-sample: $(STAMP)  ## the small fixed mutation sample CI can afford (zipcrypto, evidence, sessions)
	$(PY) tests/mutate.py --sample $(ARGS)

# The CI-sized fault matrix; the full one (docs/qa.md): make qa QA_SEEDS=10 QA_ENDPOINTS=20
# Against a running `serve --clock manual` (any --workers/--store, docs/scaling.md):
#   TANIUM_SIM_ADMIN_TOKEN=<its admin token> make qa QA_URL=http://127.0.0.1:8080
QA_SEEDS     ?= 2
QA_ENDPOINTS ?= 3
QA_URL       ?=
QA_WORLD     := $(if $(QA_URL),--url $(QA_URL),--seeds $(QA_SEEDS))

qa: $(STAMP)  ## every scenario × QA_SEEDS seeds × QA_ENDPOINTS endpoints (or the server at QA_URL); reports/
	@mkdir -p reports
	$(SIM) qa $(QA_WORLD) --endpoints $(QA_ENDPOINTS) \
		--junit reports/qa-junit.xml --json reports/qa.json --html reports/qa.html $(ARGS)
	@$(MAKE) --no-print-directory qa-teeth

# Proof the matrix has teeth (docs/qa.md "Broken clients"): each deliberately broken client must FAIL the
# scenario that catches it, at the same size. Their reports go to reports/qa-broken-<client>.txt.
QA_TEETH := no-retry:flaky-5xx no-cleanup:task-errors ignores-retry-after:rate-limited \
	blind-post:duplicate-post stale-session:session-expiry

qa-teeth: $(STAMP)  ## every broken client variant must fail the scenario that catches it
	@mkdir -p reports; for pair in $(QA_TEETH); do \
		client=$${pair%%:*}; scenario=$${pair#*:}; \
		$(SIM) qa $(QA_WORLD) --endpoints $(QA_ENDPOINTS) --client $$client --scenario $$scenario \
			> reports/qa-broken-$$client.txt 2>&1; rc=$$?; \
		if [ $$rc -eq 1 ]; then echo "caught: broken client $$client fails $$scenario"; \
		else echo "NOT CAUGHT: broken client $$client got exit $$rc on $$scenario (reports/qa-broken-$$client.txt)"; exit 1; fi; \
	done

# Load test knobs: make loadtest LOADTEST_TIME=5m LOADTEST_USERS=40 LOADTEST_ARGS="--slo-p95-workflow-s 3"
LOADTEST_TIME  ?= 60s
LOADTEST_USERS ?= 12
LOADTEST_ARGS  ?=

# Beside Locust's loadtest.html: loadtest-summary.html (SLO verdicts, settings, plots; loadtests/report.py).
loadtest: $(STAMP)  ## simulator on 127.0.0.1 + Locust headless for LOADTEST_TIME; CSV/HTML/summary in reports/; exit = SLO verdict
	@mkdir -p reports
	$(VENV)/bin/locust -f loadtests/locustfile.py --headless --start-simulator --sim-endpoints 10000 \
		--working-set 32 -u $(LOADTEST_USERS) -r $(LOADTEST_USERS) -t $(LOADTEST_TIME) --stop-timeout 15 \
		--csv reports/loadtest --html reports/loadtest.html --only-summary $(LOADTEST_ARGS)

# A PNG of the summary page, taken by headless Chromium (the page has no JavaScript): make loadtest first.
LOADTEST_SUMMARY    ?= reports/loadtest-summary.html
LOADTEST_SCREENSHOT ?= reports/loadtest-summary.png
SCREENSHOT_SIZE     ?= 1280,2200
CHROMIUM            ?= /usr/bin/chromium

loadtest-screenshot:  ## PNG (SCREENSHOT_SIZE) of reports/loadtest-summary.html with headless Chromium
	@test -f "$(LOADTEST_SUMMARY)" || { echo "loadtest-screenshot: no $(LOADTEST_SUMMARY): run make loadtest first"; exit 1; }
	@command -v "$(CHROMIUM)" >/dev/null || { echo "loadtest-screenshot: no $(CHROMIUM): apt-get install chromium, or CHROMIUM=path"; exit 1; }
	@profile=$$(mktemp -d) && rm -f "$(LOADTEST_SCREENSHOT)" && \
	"$(CHROMIUM)" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$$profile" \
		--window-size=$(SCREENSHOT_SIZE) --screenshot="$(abspath $(LOADTEST_SCREENSHOT))" \
		"file://$(abspath $(LOADTEST_SUMMARY))" >"$$profile.log" 2>&1; \
	rm -rf "$$profile"; \
	if [ -s "$(LOADTEST_SCREENSHOT)" ]; then rm -f "$$profile.log"; echo "$(LOADTEST_SCREENSHOT)"; \
	else cat "$$profile.log"; rm -f "$$profile.log"; echo "loadtest-screenshot: Chromium wrote no $(LOADTEST_SCREENSHOT)"; exit 1; fi

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

screenshots: $(STAMP) install-chromium  ## docs/img/console*.png and qa-heatmap.png (docs/console.md), drawn by Chromium
	TANIUM_SIM_CHROMIUM=$(CHROMIUM) $(PY) -m tests.browser.screenshots docs/img

bench: $(STAMP)  ## every loadtests/bench_*.py; figures, machine, date and command into loadtests/RESULTS.md
	$(PY) loadtests/bench_all.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports mutants
