# One task runner for people and CI. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup system-deps node-deps run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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
