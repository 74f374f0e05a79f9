# Everything a fresh machine needs comes from here: a virtualenv in .venv with the project and its
# dev tools installed from PyPI. Python 3.11+ must be on PATH as $(PYTHON).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup node demo test lint proto bench bench-overhead clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The quickstart: starts a scripted OpenAI-compatible server and a collector on the embedded
# store, runs the example agent under opentelemetry-instrument, prints the trajectory, stops.
demo: setup
	$(BIN)/python examples/quickstart.py

# The Node.js end-to-end test (tests/e2e/test_js_exporter.py) runs an agent on the OpenTelemetry
# JS SDK: node (18.19+ or 20.6+) and npm come from the Debian packages when they are missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
node:
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }

test: setup node
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

proto: setup
	$(BIN)/python -m trajotel.model_codegen

bench: setup
	$(BIN)/python bench/ingest.py

# Latency added per openai call: trajotel against no instrumentation and three other
# instrumentations, each in its own overlay venv under .venv/peers (built from PyPI on first use).
bench-overhead: setup
	$(BIN)/python bench/overhead.py --json bench/results/overhead.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
