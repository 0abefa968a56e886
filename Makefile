# Two commands (see README): `make demo` runs the main job on the embedded
# synthetic county, `make test` runs the whole test suite. Each creates the
# virtual environment and installs what it needs on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= maps/demo

.PHONY: demo test bench kernels clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all,test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/access demo --out $(OUT)

test: $(VENV)/.installed-test
	bash tests/system_deps.sh
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e ".[all,test,bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# the compiled kernels the package ships (access/prebuilt.py); after changing a kernel
kernels: $(VENV)/.installed
	$(BIN)/python -c "from access.prebuilt import build; a = build(); print(a, a.stat().st_size // 1000, 'kB')"

clean:
	rm -rf $(VENV) maps/demo
