# Everything installs into .venv from scratch: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint test test-fast demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check runner tests bench
	$(VENV)/bin/mypy

# Most tests wait on sandboxes, timers and subprocesses, not the CPU: four workers
# finish the suite in less than half the serial time on two cores.
TEST_WORKERS ?= 4

test: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

# The unit tests alone, in seconds: no subprocess, no server, no database file.
test-fast: install
	$(VENV)/bin/pytest -q tests/unit

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash demo/demo.sh

# make bench BENCH_ARGS=--quick: the 1-minute smoke run; BENCH_ARGS="--only limiters": one case.
bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis demo/runner.db* demo/data
