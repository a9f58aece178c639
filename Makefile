# mtrec: `make pipeline` trains and registers a model, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml

# No model hub, no telemetry; the ZenML store lives in the project unless told otherwise.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ZENML_ANALYTICS_OPT_IN := false
export GX_ANALYTICS_ENABLED := False
export ZENML_CONFIG_PATH ?= $(CURDIR)/.zenml

.DEFAULT_GOAL := help
.PHONY: help install pipeline test test-fast lint format clean bench bench-encode bench-train recommend compare

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

pipeline: install ## Run the training pipeline (CONFIG=configs/default.yaml)
	$(BIN)/python run.py train --config $(CONFIG)

test: install ## Run the whole test suite, the real MovieLens-100k run included
	$(BIN)/python -m pytest

test-fast: install ## Run the suite without the slow end-to-end run
	$(BIN)/python -m pytest -m "not slow"

recommend: install ## Top-K per user from the production model (ARGS="--users 1,2 --k 10")
	$(BIN)/python run.py recommend --config $(CONFIG) $(ARGS)

compare: install ## Every architecture x task weighting, single-task models and baselines -> reports/comparison/
	$(BIN)/python run.py compare --config $(CONFIG) $(ARGS)

bench-encode: install ## Encoder throughput vs sentence-transformers on MovieLens-100k texts
	$(BIN)/python bench/encode.py

bench-train: install ## Training samples/s and full-ranking users/s (10,000 items)
	$(BIN)/python bench/train_eval.py

bench: bench-encode bench-train ## Run the benchmarks; figures go to bench/results.json

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove reports, the local ZenML store and the data cache (keeps .venv)
	rm -rf reports .zenml data/cache
