# Every target bootstraps .venv itself, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIM    := $(VENV)/bin/tanium-sim
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: install run serve test check qa loadtest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
