# Thin wrapper over CMake. The two commands a new user needs:
#   make demo    install packages, build, run a 4-server local cluster demo
#   make check   install packages, build, run every test (release + ASan/UBSan)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
# ThreadSanitizer runs the tests of code that threads share: the client
# library's threading (client.threads, client.basic) and the units below it.
TSAN_TESTS ?= ^(client\.threads\.|client\.basic\.|unit\.client\.|unit\.net\.am$$)
TSAN_TARGETS ?= benchfsd itest_client_threads itest_client_basic test_client_api \
                test_client_placement test_client_posix test_net_am
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 60
CTEST_FLAGS ?= --output-on-failure -j2 --timeout 300
CMAKE_FLAGS ?=

.PHONY: all deps build asan tsan fuzz-build check check-release check-asan check-tsan format \
        format-check fuzz fuzz-smoke demo bench install clean

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

# ThreadSanitizer (clang): only what check-tsan runs. UCX is not built with
# TSan, so reports whose frames are inside libuc* are suppressed
# (tests/tsan.supp says why); BenchFS frames are never suppressed.
tsan: deps
	@CC=clang cmake -S . -B $(TSAN_BUILD) -DBENCHFS_TSAN=ON \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)

fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DBENCHFS_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

check: deps format-check check-release check-asan check-tsan fuzz-smoke
	@echo "make check: all stages passed"

check-release: build
	@echo "== tests (release, -Werror) =="
	@cd $(BUILD) && ctest $(CTEST_FLAGS)

check-asan: asan
	@echo "== tests (ASan + UBSan) =="
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

check-tsan: tsan
	@echo "== tests (ThreadSanitizer: client threading) =="
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
	    suppressions=$(CURDIR)/tests/tsan.supp" ctest $(CTEST_FLAGS) -R '$(TSAN_TESTS)'

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

fuzz: fuzz-build build
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
	@bash scripts/fuzz_diff.sh $(BUILD) $(FUZZ_SECONDS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@rc=0; bash bench/run_all.sh $(BUILD) || rc=1; bash bench/fuse_bench.sh $(BUILD) || rc=1; \
	    bash bench/preload_bench.sh $(BUILD) || rc=1; exit $$rc

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
