# smalti: the entry points. `make demo` runs the main job, `make test` everything CI checks.
JOBS ?= 2
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
SEED ?= 42
FUZZ_SECONDS ?= 120
SMOKE_SECONDS ?= 10
SWARM_SEEDS ?= 2000

# Benchmarks are built by `make bench` only, which keeps `make test` (and CI) shorter.
BENCH ?= OFF
# -g1 (line tables and functions, no variables) keeps backtraces and sanitizer reports readable
# and compiles about 30% faster than -g (measured, docs/decisions.md); `make DEBUG_INFO=-g` for
# a debugger session.
DEBUG_INFO ?= -g1
CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMALTI_BENCH=$(BENCH) \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $(DEBUG_INFO) -DNDEBUG"

.PHONY: deps build build-asan build-fuzz demo test test-unit test-asan fuzz-smoke lint tidy format format-check bench etcd-compare fuzz swarm clean

SOURCE_DIRS = core sim real storage scenarios tests fuzz bench
SOURCES = $(shell find $(SOURCE_DIRS) -name '*.hpp' -o -name '*.cpp')
# What `make tidy` checks: these folders' .cpp files and the project headers they include. tests/
# is left out by default: it would more than double the step's time (measured, docs/decisions.md);
# `make tidy TIDY_DIRS="core sim real storage scenarios tests"` checks it too.
TIDY_DIRS ?= core sim real storage scenarios

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The ASan+UBSan tree is clang's: it compiles it in about a third less CPU time than GCC
# (measured, docs/decisions.md), and it holds the libFuzzer targets too, so that CI compiles the
# libraries under fuzz once, not a third time. `make fuzz` keeps its own optimised fuzz-only tree
# for long runs.
build-asan: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
	  -DSMALTI_SANITIZE=ON -DSMALTI_FUZZ=ON -DSMALTI_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG="$(DEBUG_INFO)" >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

build-fuzz: deps
	@CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSMALTI_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS)

# The main job: a simulated cluster with faults, printing what it checked.
demo: build
	@$(BUILD_DIR)/smalti-sim run scenarios/files/demo.scn --seed $(SEED)

test-unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	@cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) -E '^lint\.'

# The smoke run uses the fuzz targets of the ASan tree (built with it, at -O1).
fuzz-smoke: build-asan
	@bash scripts/run_fuzz.sh $(ASAN_DIR) $(SMOKE_SECONDS)

# The determinism lint on core/, and the file-length limit on every source (DESIGN.md section 10).
lint:
	@bash scripts/lint_determinism.sh core
	@bash scripts/lint_file_length.sh $(SOURCE_DIRS)

# clang-tidy with .clang-tidy (scripts/tidy.sh); needs only the configured build's
# compile_commands.json, not a build, and fails on any finding.
tidy: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@bash scripts/tidy.sh $(BUILD_DIR) $(JOBS) $(TIDY_DIRS)

# The code follows .clang-format; `make format` applies it.
format-check: deps
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: all sources follow .clang-format"

format: deps
	@clang-format -i $(SOURCES)

# Everything CI runs: lint (determinism, file length), format, clang-tidy, unit and simulation
# tests, the same under ASan+UBSan, a fuzz smoke run. The quick checks come first so that they
# fail fast.
test: lint format-check tidy test-unit test-asan fuzz-smoke
	@echo "make test: all checks passed"

# The benchmarks. scripts/bench_deps.sh installs what only they need (etcd, gRPC for the etcd
# load generator).
bench: deps
	@bash scripts/bench_deps.sh
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) -DSMALTI_BENCH=ON >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	@bash scripts/run_bench.sh $(BUILD_DIR)

# The durable 3-node group side by side with etcd 3.4 (scripts/etcd_compare.sh), on a quiet
# machine; SIDES=etcd or SIDES=smalti measures one side (docs/performance.md).
etcd-compare: bench
	@bash scripts/etcd_compare.sh $(BUILD_DIR)

fuzz: build-fuzz
	@bash scripts/run_fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# Thousands of seeds: the demo scenario (discovery, streams and a 5-node group through its faults),
# then the group properties (random sizes, workloads and fault schedules, formed or forming), both
# with the BUGGIFY fault points on (docs/buggify.md) until their faults end.
swarm: build
	@$(BUILD_DIR)/smalti-sim swarm scenarios/files/demo.scn --seeds $(SWARM_SEEDS) --buggify
	@SMALTI_BUGGIFY=1 bash scripts/group_swarm.sh $(BUILD_DIR) $(SWARM_SEEDS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
