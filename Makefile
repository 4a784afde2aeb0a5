# Two commands for a fresh machine with only python3 and make:
#   make demo   create .venv, install, run a small real experiment end to end
#   make test   create .venv, install, run every test (notebooks included)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m lowprec.demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# Mutation score of the core (TESTING.md): hours of CPU, not part of `make test`.
# MUTATION_ARGS e.g. "heat lorenz63 --sample 50"; see tests/mutation/run_mutation.py --help.
.PHONY: mutation
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	$(PY) tests/mutation/run_mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info demo-output
