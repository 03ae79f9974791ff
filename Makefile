# Two commands on a fresh machine: `make reproduce` (the study) and `make test` (the tests).
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_QUIET := -q --disable-pip-version-check


env: $(STAMP)

$(STAMP): envs/requirements.txt envs/requirements-nodeps.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) -r envs/requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install $(PIP_QUIET) --no-deps -r envs/requirements-nodeps.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install $(PIP_QUIET) --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import torch, transformers, snakemake, lmsteer, profanity_check, h5py, gguf, accelerate"
	touch $(STAMP)

reproduce: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --profile profiles/default $(ARGS)

test: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q tests $(ARGS)

lint: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint

dry-run: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake -n --profile profiles/default $(ARGS)
