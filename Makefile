# The two commands of the README: `make lab` (the netns demo) and `make test` (everything CI runs).
# Both install what they need on a fresh Debian/Ubuntu machine; both need root (namespaces, raw sockets).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test lint unit deps clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

deps:
	scripts/install-system-deps

lab: $(STAMP)
	scripts/install-system-deps --lab
	$(BIN)/vrrpd lab

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: deps $(STAMP) lint
	$(BIN)/pytest

# vrrpd vs keepalived in namespace labs (~20 min; BENCH_ARGS=--quick for a few): writes docs/benchmarks.md.
bench: deps $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -m "not netns"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
