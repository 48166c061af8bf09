# `make test` and `make demo` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU wheel of torch lies on this machine's disk; an unpinned torch would pull a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install test demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) setup.py
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m emomucs_core.demo

bench: install
	$(PY) benchmarks/bench_predict.py

clean:
	rm -rf $(VENV) build *.egg-info
