# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint typecheck pytest notebooks sample clean help

help:
	@echo "make demo   - create $(VENV), install siting, build the Yunnan sample, run the demo plan"
	@echo "make test   - install the test tools into $(VENV), run ruff, mypy, pytest and the notebooks"
	@echo "make sample - rebuild the modelled part of the Yunnan sample"
	@echo "make clean  - remove $(VENV), caches and run outputs"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.runtime-installed
	$(PIP) install --quiet -e '.[test,dask]'
	touch $@

demo: $(VENV)/.runtime-installed
	$(BIN)/siting demo

sample: $(VENV)/.runtime-installed
	$(BIN)/siting sample build

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

pytest: $(VENV)/.test-installed
	$(BIN)/python -m pytest

# The notebooks run top to bottom on the sample and are committed without outputs; a copy is run
# with its outputs kept, to check that their charts show and that they stay small.
notebooks: $(VENV)/.test-installed
	$(BIN)/nbstripout --verify notebooks/*.ipynb
	rm -rf .notebooks-run && cp -r notebooks .notebooks-run
	$(BIN)/python -m pytest --nbmake --overwrite .notebooks-run -p no:cacheprovider
	$(BIN)/python -m tests.notebook_outputs .notebooks-run

test: lint typecheck pytest notebooks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache outputs .hypothesis .notebooks-run
