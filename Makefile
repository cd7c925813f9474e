# Raven — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is a step of those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60

.PHONY: all deps test-deps build run test unit integ fuzz fuzz-smoke asan bench clean

all: build

# What building and running need; `make test` and `make bench` add their
# tools and peers (scripts/deps.sh run|install|test|bench).
deps:
	@bash scripts/deps.sh run

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The daemon in the foreground on the built-in default configuration.
run: build
	./$(BUILD)/src/parent/ravend -d

# Unit, integration, fuzz smoke, then unit + integration again under
# ASan+UBSan; ends with one total line.
test: test-deps
	@bash scripts/test.sh

test-deps:
	@bash scripts/deps.sh test

unit: test-deps build
	meson test -C $(BUILD) --print-errorlogs

integ: test-deps build
	RAVEND=$(CURDIR)/$(BUILD)/src/parent/ravend /usr/bin/python3 -m pytest -q tests/integ

# A longer fuzzing session of every target (FUZZ_TIME seconds each).
fuzz: test-deps
	@FUZZ_TIME=$(FUZZ_TIME) bash scripts/fuzz.sh

fuzz-smoke: test-deps
	@FUZZ_TIME=10 bash scripts/fuzz.sh

bench: build
	@bash scripts/deps.sh bench
	@bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
