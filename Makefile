# Thin wrapper over CMake. The two commands a new user needs:
#   make demo    install packages, build, run a 4-server local cluster demo
#   make check   install packages, build, run every test (release + ASan/UBSan)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 60
CTEST_FLAGS ?= --output-on-failure -j2 --timeout 300
CMAKE_FLAGS ?=

.PHONY: all deps build asan fuzz-build check check-release check-asan format format-check \
        fuzz fuzz-smoke demo bench install clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DBENCHFS_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DBENCHFS_WERROR=ON -DBENCHFS_SANITIZE=ON \
	    -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DBENCHFS_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

check: deps format-check check-release check-asan fuzz-smoke
	@echo "make check: all stages passed"

check-release: build
	@echo "== tests (release, -Werror) =="
	@cd $(BUILD) && ctest $(CTEST_FLAGS)

check-asan: asan
	@echo "== tests (ASan + UBSan) =="
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

format:
	@git ls-files '*.c' '*.h' | xargs -r clang-format -i

format-check:
	@echo "== clang-format =="
	@bad=$$(git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run 2>&1 | grep -c 'warning:' || true); \
	if [ "$$bad" != "0" ]; then \
	    git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run 2>&1 | head -40; \
	    echo "clang-format: $$bad differences (run 'make format')"; exit 1; fi

fuzz-smoke: fuzz-build
	@echo "== fuzz smoke (5 s per target) =="
	@bash scripts/fuzz.sh $(FUZZ_BUILD) 5

fuzz: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run_all.sh $(BUILD)
	@bash bench/preload_bench.sh $(BUILD)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
