# `make test` and `make demo` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU wheel of torch lies on this machine's disk; an unpinned torch would pull a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install test demo bench evaluate-4q model clean

# Research data lives beside the repository, never inside it.
DATA4Q ?= ../shared/data/4q-dev
CACHE  ?= $(HOME)/.cache/emomucs/features
EPOCHS ?= 30
SHIPPED_SPEC ?= desc-early-freeze-quadrant-linear
CV_SPECS ?= c1d-m-quadrant,c1d-early-quadrant,c1d-early-freeze-quadrant,c1d-early-finetune-quadrant,c1d-mid-freeze-quadrant,c1d-late-freeze-quadrant,c1d-m-quadrant-summary,c1d-early-freeze-quadrant-summary,c1d-mid-freeze-quadrant-summary,c1d-late-freeze-quadrant-summary,c1d-m-quadrant-desc,c1d-early-freeze-quadrant-desc-linear,desc-early-freeze-quadrant-linear

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) setup.py
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# strace lets the tests interrupt a tag write the way issue 9 reproduced it (skipped without it).
test: install
	@command -v strace >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q strace || { apt-get update -q && apt-get install -y -q strace; }; } >/dev/null 2>&1; } \
		|| echo "strace not installed: its test will be skipped"
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m emomucs_core.demo

bench: install
	$(PY) benchmarks/bench_default_model.py
	$(PY) benchmarks/bench_predict.py

# Artist-grouped 5-fold cross-validation on 4q-dev (offline separator): report in docs/results-4q/.
evaluate-4q: install
	$(VENV)/bin/emomucs -v evaluate --dataset 4q --data $(DATA4Q) --cache $(CACHE) --separator offline \
		--models $(CV_SPECS) --epochs $(EPOCHS) --folds 5 --seed 0 --out docs/results-4q

# Rebuild the shipped model (fixed seed) with the cross-validated metrics on its card.
model: install
	$(VENV)/bin/emomucs -v train --dataset 4q --data $(DATA4Q) --cache $(CACHE) --separator offline \
		--model $(SHIPPED_SPEC) --epochs $(EPOCHS) --seed 0 --threads 1 --name emomucs-4q \
		--metrics docs/results-4q/results.json --out emomucs_core/models/emomucs-default.safetensors

clean:
	rm -rf $(VENV) build *.egg-info
