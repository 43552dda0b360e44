# maskwatch: `make demo` runs the pipeline on bundled CC0 scenes, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
DEMO_PORT ?= 8000

.PHONY: install system-deps demo test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# the whole pipeline on a clip of the bundled CC0 scenes; Ctrl-C stops it
demo: install
	$(BIN)/maskwatch run --demo --out $(DEMO_OUT) --port $(DEMO_PORT)

# Debian packages for the real-server tests (GStreamer RTSP server, Chromium); needs root
system-deps:
	bash .ci/system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest -q -rfEs

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out *.egg-info .pytest_cache
