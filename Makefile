# Two commands for a new user (see README.md):
#   make demo   - set everything up and run the whole pipeline on sample_audio/
#   make test   - set everything up, lint (ruff, mypy) and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.audiotaste-installed
EXTRAS ?= dev,ray

.PHONY: demo test install sysdeps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch drags in a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

sysdeps:
	@bash scripts/sysdeps.sh

# CI runs `make test`: lint (ruff + mypy) first, so a lint finding fails the build like a test.
test: install sysdeps lint
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

demo: install sysdeps
	@bash scripts/demo.sh

lint: install
	$(BIN)/ruff check audiotaste tests scripts
	$(BIN)/mypy audiotaste

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
