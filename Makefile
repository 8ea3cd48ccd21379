# The two commands of the README: `make fuzz` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fuzz,wasmtime,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

fuzz: $(STAMP)
	$(BIN)/poolfuzz nightly --budget 3m --workers auto --target reference --out reports/

clean:
	rm -rf $(VENV) build *.egg-info .hypothesis
