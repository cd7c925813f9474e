# Raven — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is a step of those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60

.PHONY: all deps build run test unit integ fuzz fuzz-smoke asan bench clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The daemon in the foreground on the built-in default configuration.
run: build
	./$(BUILD)/src/parent/ravend -d

# Unit, integration, fuzz smoke, then unit + integration again under
# ASan+UBSan; ends with one total line.
test: deps
	@bash scripts/test.sh

unit: build
	meson test -C $(BUILD) --print-errorlogs

integ: build
	RAVEND=$(CURDIR)/$(BUILD)/src/parent/ravend /usr/bin/python3 -m pytest -q tests/integ

# A longer fuzzing session of every target (FUZZ_TIME seconds each).
fuzz: deps
	@FUZZ_TIME=$(FUZZ_TIME) bash scripts/fuzz.sh

fuzz-smoke: deps
	@FUZZ_TIME=10 bash scripts/fuzz.sh

bench: build
	@bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
