# Two commands on a fresh machine: `make reproduce` (the study) and `make test` (the tests).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_QUIET := -q --disable-pip-version-check
# pip prints one warning per package for this machine's unused extra index; drop those lines only
QUIET_WARN := { grep -v "^WARNING: Location" || true; }
# `make bench` times the trained detox steer when `make reproduce` has made one
STEER ?= results/runs/detox/smollm2-135m/lm_steer/steer


.PHONY: env reproduce spine test test-fast lint dry-run bench slurm-ci gpu-check

env: $(STAMP)

$(STAMP): envs/requirements.txt envs/requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) -r envs/requirements.txt 2>&1 | $(QUIET_WARN)
	$(BIN)/pip install $(PIP_QUIET) --no-deps -r envs/requirements-nodeps.txt 2>&1 | $(QUIET_WARN)
	$(BIN)/pip install $(PIP_QUIET) --no-deps -e . 2>&1 | $(QUIET_WARN)
	$(BIN)/python -c "import torch, transformers, snakemake, lmsteer, profanity_check, h5py, gguf, accelerate"
	touch $(STAMP)

# The committed results are this DAG's outputs: left in place, Snakemake would find a fresh clone
# up to date and run nothing. So the first `make reproduce` in a checkout (default config)
# removes them -- git keeps them, and `git diff --stat results/` afterwards shows what your run
# changed -- and every later call resumes where the last one stopped.
STARTED := .snakemake/lmsteer-reproduce-started
# shell test: this call runs the default config for real (no dry run, no other --configfile)
DEFAULT_RUN = ! echo " $(ARGS) " | grep -qE -- " (-n|--dry-run|--configfile)"
COMMITTED := results/tables results/figures results/leaderboard.md results/leaderboard.csv \
	results/leaderboard.html results/bench/methods-*.json results/analysis results/selection

reproduce: env
	@if [ ! -e $(STARTED) ] && $(DEFAULT_RUN); then \
		echo "first 'make reproduce' here: removing the committed results so that the DAG" \
		     "regenerates them (git keeps the committed copies)"; \
		rm -rf $(COMMITTED); \
		find results/runs \( -name record.json -o -name model.json \) -delete 2>/dev/null || true; \
		mkdir -p .snakemake && touch $(STARTED); \
	fi
	$(BIN)/python -m lmsteer validate-config --config config/config.yaml
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --profile profiles/default $(ARGS)

# Only the spine (issue 2's part of the study): LM-Steer's training, the original LM and LM-Steer
# on both LMs and prompt sets, results/tables/table1_spine.{md,csv} + figure. Left in place, the
# spine's committed records would make a fresh clone up to date, so the first `make spine` in a
# checkout (default config, and no `make reproduce` begun) removes those 8 records and the spine
# table -- git keeps them -- and keeps every other committed result; later calls resume.
SPINE_STARTED := .snakemake/lmsteer-spine-started
SPINE_COMMITTED := results/tables/table1_spine.md results/tables/table1_spine.csv \
	results/figures/table1_spine.png \
	results/runs/detox/*/{original,lm_steer}/*/{record,model}.json \
	results/selection/detox/*/*/lm_steer.json results/selection/detox/sweeps/*/{original,lm_steer}

spine: env
	@if [ ! -e $(SPINE_STARTED) ] && [ ! -e $(STARTED) ] && $(DEFAULT_RUN); then \
		echo "first 'make spine' here: removing the spine's committed records and table so" \
		     "that the DAG regenerates them (git keeps the committed copies; other results stay)"; \
		rm -rf $(SPINE_COMMITTED); \
		mkdir -p .snakemake && touch $(SPINE_STARTED); \
	fi
	$(BIN)/python -m lmsteer validate-config --config config/config.yaml
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --profile profiles/default spine $(ARGS)

test: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q tests $(ARGS)

# The fast tier for development: everything but the tests marked `integration` (the real DAG
# runs and the kill -9 of a DAG, minutes each); `make test` runs both and is what CI runs
test-fast: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -m "not integration" tests $(ARGS)

# On a CUDA machine: unit tests on the GPU, folded / unfolded / CPU logits, a 50-step steer
# training and a generation batch per embedded LM with times and peak GPU memory (a few minutes;
# docs/guide.md, "GPU users"). LMSTEER_DEVICE=cpu runs the same script on the CPU (CI does, on tiny LMs).
GPU_DEVICE ?= cuda
gpu-check: env
	LMSTEER_DEVICE=$(GPU_DEVICE) PATH=$(abspath $(BIN)):$$PATH $(BIN)/python tools/gpu_check.py \
		--out results/bench/gpu-check.json $(ARGS)

# CI on a real one-node SLURM cluster (root, Debian 12): stands it up, runs the ci DAG through
# `--executor slurm`, checks outputs and sacct, stops the daemons (.ci/slurm/run.sh)
slurm-ci: env
	VENV=$(VENV) bash .ci/slurm/run.sh

lint: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint

dry-run: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake -n --profile profiles/default $(ARGS)

bench: env
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_generation.py --repeats 5 \
		$(if $(wildcard $(STEER)/steer_config.json),--steer $(STEER))
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_sampling.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_training.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_scoring.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_headloss.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_dtype.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_prefill.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_prefill.py --model smollm2-135m \
		--out results/bench/prefill-smollm2-135m.json
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_judge.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/bench_buffers.py
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/report.py --doc docs/performance.md
