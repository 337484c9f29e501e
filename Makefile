# One task runner for people and CI. `make run` and `make test` set everything up themselves.
# The newest supported interpreter on the machine (3.13, 3.12 or 3.11), else python3.
# (Run, not just found: a pyenv shim exists for versions that are not selected.)
PYTHON ?= $(or $(firstword $(foreach v,3.13 3.12 3.11,$(shell python$(v) -c '' >/dev/null 2>&1 && echo python$(v)))),python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup system-deps node-deps run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)  # an existing venv keeps its interpreter
	$(BIN)/pip install --quiet --upgrade pip
	# durable-rules 2.0.28 calls PyEval_CallObject, removed in 3.13; its setup.py overwrites CFLAGS.
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 13))'; then \
	  CPPFLAGS=-DPyEval_CallObject=PyObject_CallObject $(BIN)/pip install --quiet --no-binary durable-rules -e '.[dev]'; \
	else $(BIN)/pip install --quiet -e '.[dev]'; fi
	touch $(STAMP)

setup: $(STAMP)

# The JavaScript the tests use (socket.io-client, React, esbuild), pinned in package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

node-deps: node_modules/.package-lock.json

system-deps:
	bash scripts/system-deps.sh

run: setup
	$(BIN)/planwise serve --host $(HOST) --port $(PORT) --demo

test: setup system-deps node-deps
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/ws_load.py

clean:
	rm -rf $(VENV) data/*.db data/*.db-* .mypy_cache .ruff_cache
