# `make test` and `make demo` do all set-up on a fresh machine (`make demo` only what the demo needs);
# `make install` is the full development set-up (the test extra).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch is installed pinned, unless one is already importable in $(VENV). From PyPI on Linux, torch==2.13.0 is
# the CUDA build (what a GPU user wants, a few GB); TORCH_INDEX=https://download.pytorch.org/whl/cpu takes
# the CPU wheel instead. On this project's machines the CPU wheel lies on disk, where pip finds it.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: install test demo bench bench-model evaluate-4q model evaluate-4q-dev cache-4q clean

# Research data lives beside the repository, never inside it.
DATA4Q ?= ../shared/data/4q-dev
# All 900 clips of the 4Q dataset (Famelgas/MULT_TP2, folder Dataset/); only `evaluate-4q` and `model` read it.
DATA4Q_FULL ?= ../data4q/Dataset
CACHE  ?= $(HOME)/.cache/emomucs/features
SEPARATOR_4Q ?= offline:v7
RESULTS_4Q ?= docs/results-4q-900
EPOCHS ?= 30
SHIPPED_SPEC ?= desc-early-freeze-quadrant-linear
CV_SPECS ?= c1d-m-quadrant,c1d-early-quadrant,c1d-early-freeze-quadrant,c1d-early-finetune-quadrant,c1d-mid-freeze-quadrant,c1d-late-freeze-quadrant,c1d-m-quadrant-summary,c1d-early-freeze-quadrant-summary,c1d-mid-freeze-quadrant-summary,c1d-late-freeze-quadrant-summary,c1d-m-quadrant-desc,c1d-early-freeze-quadrant-desc-linear,desc-early-freeze-quadrant-linear

$(PY):
	$(PYTHON) -m venv $(VENV)

# What `make demo` needs: torch, the package and matplotlib for its map (the `map` extra).
$(VENV)/.installed: $(PY) setup.py
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[map]"
	touch $@

# What `make test` (and the research targets) need besides: the test extra (Ray, selenium, scikit-learn, ...;
# about 2.3 GB more).
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed-test

# strace lets the tests interrupt a tag write the way issue 9 reproduced it; headless Chromium renders the
# --map FILE.html page (tests/test_map_page.py). Installed as root with apt-get; their tests skip without them.
test: install
	@command -v strace >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q strace || { apt-get update -q && apt-get install -y -q strace; }; } >/dev/null 2>&1; } \
		|| echo "strace not installed: its test will be skipped"
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium chromium-driver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; } >/dev/null 2>&1; } \
		|| echo "chromium not installed: the map page tests will be skipped"
	$(PY) -m pytest -q tests

# DEMO_ARGS=--keep keeps the demo library (and says where, with the beet command to look at it).
demo: $(VENV)/.installed
	$(PY) -m emomucs_core.demo $(DEMO_ARGS)

# emomucs beside VibeNet on every tenth file of $(DATA4Q) (skipped with a message when absent),
# 1 vs all-core workers, a 5- and a 60-minute file, 8 full-length tracks joined from clips (beside VibeNet too),
# then the per-stage profile. Whole processes; an idle machine for real figures.
$(VENV)/.bench: $(VENV)/.installed-test
	$(PY) -m pip install -q -e ".[bench]"
	touch $@

bench: $(VENV)/.bench
	$(PY) benchmarks/bench_side_by_side.py --data $(DATA4Q)

# The predictor alone over a folder, and one file through full-size HTDemucs.
bench-model: install
	$(PY) benchmarks/bench_default_model.py
	$(PY) benchmarks/bench_predict.py

# Features of the 900 clips (separated stems and the handcrafted baseline's), cached; resumable.
cache-4q: install
	nice $(PY) -m emomucs_core.datasets --dataset 4q --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --sources vocals,drums,bass,other --handcrafted

# The built-in model's recipe under nested, artist-grouped 5-fold CV on the 900 clips (every choice made in
# the inner folds), the timbre-only recipe and the handcrafted baseline on the same outer folds; then the recipe
# with musicnn run on every stem (`model: musicnn`), one row per group set, in $(RESULTS_4Q)/musicnn.
# musicnn's embeddings of the cached stem features are built on first use (about 12 min, resumable).
evaluate-4q: cache-4q
	$(PY) -m emomucs_core.training.recipe evaluate --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --folds 5 --seed 0 --jobs 5 --out $(RESULTS_4Q)
	$(PY) -m emomucs_core.training.recipe groups --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --seed 0 --out $(RESULTS_4Q)/groups.json
	$(PY) -m emomucs_core.training.recipe evaluate --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --folds 5 --seed 0 --jobs 5 --extractors musicnn --out $(RESULTS_4Q)/musicnn

# The shipped models (built-in and musicnn): the same selectors run on all 900 clips; the nested-CV figures go
# on their cards.
model: cache-4q
	$(PY) -m emomucs_core.training.recipe train --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --seed 0 --name emomucs-4q --metrics $(RESULTS_4Q)/results.json \
		--out emomucs_core/models/emomucs-default.safetensors
	$(PY) -m emomucs_core.training.recipe train --data $(DATA4Q_FULL) --cache $(CACHE) \
		--separator $(SEPARATOR_4Q) --seed 0 --name emomucs-4q-musicnn --extractors musicnn \
		--metrics $(RESULTS_4Q)/musicnn/results.json --out emomucs_core/models/emomucs-musicnn.safetensors

# The first release's experiments on 4q-dev (CNN variants; hours): report in docs/results-4q/.
evaluate-4q-dev: install
	$(VENV)/bin/emomucs -v evaluate --dataset 4q --data $(DATA4Q) --cache $(CACHE) --separator offline \
		--models $(CV_SPECS) --epochs $(EPOCHS) --folds 5 --seed 0 --out docs/results-4q

clean:
	rm -rf $(VENV) build *.egg-info
