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
	$(BIN)/poolfuzz replay corpora/regression --quiet
	$(BIN)/poolfuzz fuzz --budget 60s

clean:
	rm -rf $(VENV) build *.egg-info .hypothesis
