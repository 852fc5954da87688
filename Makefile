# fakingclf — set-up, demo, tests and the default model, all from a fresh clone.
# Torch is pinned *before* the package installs, so pip never resolves another torch. On
# our CI machines pip finds the CPU wheel of torch 2.13.0 locally; elsewhere, pass
# TORCH_INDEX=https://download.pytorch.org/whl/cpu to get the CPU build instead of the
# multi-GB CUDA one. Nothing downloads at run time (HF_HUB_OFFLINE=1).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
CLI     = $(VENV)/bin/fakingclf
TORCH   = torch==2.13.0
TORCH_INDEX ?=
SHARED ?= ../shared/data/af_reasoning_dev.jsonl

export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: install demo test test-fast model clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,inspect,dask,judge]'
	touch $@

install: $(VENV)/.installed

## Label the bundled examples (and the shared real set when ../shared is present).
demo: install
	@mkdir -p out
	$(CLI) label data/labeled/examples.jsonl -o out/examples.labeled.jsonl
	@if [ -f "$(SHARED)" ]; then \
		$(CLI) label "$(SHARED)" -o out/shared.labeled.jsonl; \
	else echo "($(SHARED) not found: shared real set skipped)"; fi

## Lint, then the whole test suite, slow model tests included (as CI runs it).
test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

## Only the fast tests (no embedding model, no shared data).
test-fast: install
	$(PY) -m pytest -q -m "not slow"

## Retrain the shipped models (default and rules-only) from the shared data and rewrite their model cards;
## then export the encoder to int8 ONNX for --backend onnx (into ~/.cache/fakingclf/onnx, or $FAKINGCLF_ONNX_DIR).
## The training file is built from ../shared/data by data/shared_training_set.py (policy in the model card).
SHARED_DIR ?= ../shared/data
model: install
	$(PY) data/shared_training_set.py --shared "$(SHARED_DIR)" -o build/training.jsonl
	$(CLI) train build/training.jsonl --group-field group -o src/fakingclf/models/default \
		--card docs/model_card.md --datasheet data/labeled/README.md --card-note data/labeled/training_policy.md \
		--title "fakingclf default model"
	$(CLI) train build/training.jsonl --group-field group --rules-only -o src/fakingclf/models/rules-only \
		--card docs/model_card_rules_only.md --datasheet data/labeled/README.md --card-note data/labeled/training_policy.md \
		--title "fakingclf rules-only model"
	$(CLI) export-onnx

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
