# One target per verb. Each creates or refreshes .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check bench fuzz lock clean

# Installs are the versions pinned in uv.lock: uv syncs .venv to it in seconds, and pip,
# the fallback when uv cannot be had, installs the same pins from the requirements files
# exported from it (`make lock`). The venv itself is always a plain `python -m venv`;
# --inexact keeps what the lock does not list (pip, uv itself) in it.
LOCK := pyproject.toml uv.lock
sync = if [ -x $(UV) ]; then $(UV) sync --quiet --locked --inexact $(1); \
	else $(BIN)/python -m pip install --quiet -r $(2) \
	&& $(BIN)/python -m pip install --quiet --no-deps -e .; fi
export_pins = $(UV) export --quiet --locked --no-hashes --no-emit-project

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.13' || echo "uv unavailable: installing with pip"

$(STAMP): $(LOCK) requirements-dev.txt | $(BIN)/python
	$(call sync,--extra dev,requirements-dev.txt)
	touch $(STAMP) $(RUN_STAMP)

# `make run` needs only the runtime dependencies, so a fresh clone serves sooner.
$(RUN_STAMP): $(LOCK) requirements.txt | $(BIN)/python
	$(call sync,,requirements.txt)
	touch $(RUN_STAMP)

# Re-resolve uv.lock (LOCK_ARGS="--upgrade", or "--upgrade-package NAME") and export its
# pins for pip; tests/project/test_lock.py fails when the three disagree.
lock: | $(BIN)/python
	$(UV) lock $(LOCK_ARGS)
	$(export_pins) > requirements.txt
	$(export_pins) --extra dev > requirements-dev.txt

run: $(RUN_STAMP)
	$(BIN)/gateway db upgrade
	$(BIN)/gateway create-admin --if-none
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Load benchmark (bench/run.sh; BENCH_DB=sqlite|postgresql, BENCH_WORKERS, BENCH_DURATION).
# wrk is the load generator (Debian package); pyinstrument (dev extra) profiles a route.
bench: $(STAMP)
	command -v wrk >/dev/null || { apt-get update -q && apt-get install -y wrk; } \
		|| { sudo apt-get update -q && sudo apt-get install -y wrk; }
	bench/run.sh $(BENCH_ARGS)

# Longer fuzzing than `make test` does: Schemathesis on the REST door, hypothesis-graphql on
# /graphql, every phase on every database in GATEWAY_TEST_DATABASES, then the consistency check;
# and generated raw bodies of every content type on every route that reads one.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_PHASES=all $(BIN)/python -m pytest \
		tests/both_doors/test_fuzz_rest.py tests/both_doors/test_fuzz_graphql.py tests/both_doors/test_fuzz_bodies.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
