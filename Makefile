# venuelink -- `make run` runs the engine against the built-in simulators, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SRC    := $(shell find ext adapters -name '*.pyx' -o -name '*.pxd' -o -name '*.h' 2>/dev/null)
APT_PKGS := libsimdjson-dev zlib1g-dev python3-dev python3-venv g++ valgrind

.PHONY: run test test-slow bench bench-gate build annotate profile clean sysdeps asan

sysdeps:
	@./.ci/sysdeps $(APT_PKGS)

$(STAMP): pyproject.toml setup.py
	@$(MAKE) --no-print-directory sysdeps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U "pip>=24" "setuptools>=77,<81" wheel "Cython>=3.0.8,<3.4"
	VL_SKIP_EXT=1 $(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# Rebuild the extensions in place whenever a .pyx/.pxd/.h changes.
$(VENV)/.built: $(STAMP) $(SRC)
	$(BIN)/python setup.py build_ext --inplace -j 2
	touch $@

build: sysdeps $(VENV)/.built

run: build
	$(BIN)/venuelink run $(ARGS)

# two workers, a file each at a time: most of the suite waits on simulators and timers, not the CPU
test: build
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow" tests

# volume CI also runs: the two-minute soak over every venue, the decoder fuzz at full count
test-slow: build
	$(BIN)/python -m pytest -q -m slow tests
	VL_FUZZ_FRAMES=10000 $(BIN)/python -m pytest -q tests/fuzz

bench: build
	$(BIN)/python -m pytest -q -o python_files='bench_*.py' bench --benchmark-only --benchmark-disable-gc --benchmark-warmup=on --benchmark-columns=min,median,mean,ops --benchmark-sort=name $(BENCH_ARGS)

# deterministic instruction counts of the hot paths vs bench/baselines/callgrind.json (also run by make test)
bench-gate: build
	$(BIN)/python bench/callgrind_gate.py

# the decoder fuzz test and the ext tests on an AddressSanitizer + UBSan build (in build/asan)
asan: build
	./.ci/asan

annotate: $(STAMP)
	VL_ANNOTATE=1 $(BIN)/python setup.py -q build_ext --inplace --force
	@echo "annotated HTML: ext/*.html"

# Line-tracing build for line_profiler / coverage / py-spy --native sessions. Slower: rebuild with `make build` after.
profile: $(STAMP)
	VL_TRACE=1 $(BIN)/python setup.py -q build_ext --inplace --force
	rm -f $(VENV)/.built

clean:
	rm -rf build $(VENV)/.built
	find ext adapters -name '*.so' -delete -o -name '*.c' -delete -o -name '*.cpp' -delete -o -name '*.html' -delete
