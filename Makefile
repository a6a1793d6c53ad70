# Everything installs into .venv from scratch: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MUTATION_JOBS ?= 2

.PHONY: install lint test test-fast demo bench mutation clean

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
# finish them in less than half the serial time on two cores. The sandbox runs at a
# higher priority where allowed (runner/testing), and the pacer checks real departures
# (runner/sending/limiter.py), so rates hold beside the other tests. Work stealing:
# a worker that runs out takes tests queued for another (measured: 6 min 10 s with
# xdist's default split, 2 min 38 s with stealing; idle workers waited on the last
# long tests of a busy one).
TEST_WORKERS ?= 4

test: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist worksteal

# The unit tests alone, in seconds: no subprocess, no server, no database file.
test-fast: install
	$(VENV)/bin/pytest -q tests/unit

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash demo/demo.sh

# make bench BENCH_ARGS=--quick: the 1-minute smoke run; BENCH_ARGS="--only limiters": one case.
bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/run.py $(BENCH_ARGS)

# Mutation testing of the modules that decide ([tool.mutmut] in pyproject.toml), against
# the unit tests; minutes, not part of make test. Starts afresh (mutmut caches results in
# mutants/), then lists the survivors and prints the score per module
# (docs/mutation.md says why each survivor may live).
mutation: install
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS)
	$(VENV)/bin/mutmut results
	$(PY) bench/mutation_score.py

clean:
	rm -rf mutants $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis demo/runner.db* demo/data
