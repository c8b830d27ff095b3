# One target per verb. Each creates or refreshes .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check bench fuzz clean

# uv installs in seconds what pip takes minutes for; pip stays the fallback if uv
# cannot be had. The venv itself is always a plain `python -m venv`.
install = if [ -x $(BIN)/uv ]; then VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet $(1); \
	else $(BIN)/python -m pip install --quiet $(1); fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5' || echo "uv unavailable: installing with pip"

$(STAMP): pyproject.toml | $(BIN)/python
	$(call install,-e '.[dev]')
	touch $(STAMP) $(RUN_STAMP)

# `make run` needs only the runtime dependencies, so a fresh clone serves sooner.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(call install,-e .)
	touch $(RUN_STAMP)

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
# wrk is the load generator (Debian package); pyinstrument profiles the hottest route.
bench: $(STAMP)
	command -v wrk >/dev/null || { apt-get update -q && apt-get install -y wrk; } \
		|| { sudo apt-get update -q && sudo apt-get install -y wrk; }
	$(BIN)/python -c 'import pyinstrument' 2>/dev/null || $(BIN)/python -m pip install --quiet 'pyinstrument>=5.0'
	bench/run.sh $(BENCH_ARGS)

# Longer fuzzing than `make test` does: Schemathesis on the REST door, hypothesis-graphql on
# /graphql, every phase on every database in GATEWAY_TEST_DATABASES, then the consistency check;
# and generated raw bodies of every content type on every route that reads one.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_PHASES=all $(BIN)/python -m pytest \
		tests/test_fuzz_rest.py tests/test_fuzz_graphql.py tests/test_fuzz_bodies.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
