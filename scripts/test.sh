#!/usr/bin/env bash
# `make test`: every stage runs even if an earlier one failed, and the run
# ends with one total line ("N passed, N failed") and a non-zero exit if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
PY=/usr/bin/python3
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0 failed=0 skipped=0

add_meson() { # parse meson test's "Ok: N / Fail: N" summary
  local f=$1 ok fl
  ok=$(grep -E '^Ok:' "$f" | awk '{print $2}'); fl=$(grep -E '^(Fail|Unexpected Pass|Timeout):' "$f" | awk '{s+=$2} END {print s+0}')
  passed=$((passed + ${ok:-0})); failed=$((failed + ${fl:-0}))
}
add_pytest() { # parse pytest's final "N passed, M failed, K skipped" line
  local f=$1 line
  line=$(grep -E '(passed|failed|error)' "$f" | tail -1)
  for kind in passed failed error skipped; do
    n=$(echo "$line" | grep -oE "[0-9]+ $kind" | awk '{print $1}')
    case $kind in
      passed) passed=$((passed + ${n:-0}));;
      failed|error) failed=$((failed + ${n:-0}));;
      skipped) skipped=$((skipped + ${n:-0}));;
    esac
  done
  if [ -z "$line" ]; then failed=$((failed + 1)); fi
}
stage() { echo; echo "=== $* ==="; }

stage "build"
# (Re)configure so test programs added since the last setup are picked up.
if [ ! -f "$BUILD/build.ninja" ]; then meson setup "$BUILD" >/dev/null || exit 1
else meson setup --reconfigure "$BUILD" >/dev/null || exit 1; fi
ninja -C "$BUILD" || { echo "0 passed, 1 failed"; exit 1; }
# cmocka is optional for a build (make run does without it), never for the tests.
tests_json=$(meson introspect "$BUILD" --tests)
if [[ $tests_json != *'"name"'* ]]; then
  echo "no unit tests configured in $BUILD: is libcmocka-dev installed (scripts/deps.sh test)?"
  echo "0 passed, 1 failed"; exit 1
fi

stage "format (clang-format, .clang-format)"
unformatted=$(for f in $(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 2>/dev/null); do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$unformatted" ]; then
  echo "not clang-formatted (run clang-format -i on them):"; echo "$unformatted"
  failed=$((failed + 1))
else
  echo "format: all files clean"; passed=$((passed + 1))
fi

stage "unit tests (cmocka)"
meson test -C "$BUILD" --print-errorlogs 2>&1 | tee "$log/unit"
add_meson "$log/unit"

stage "integration tests (pytest, real ravend)"
RAVEND="$PWD/$BUILD/src/parent/ravend" $PY -m pytest -q -p no:cacheprovider tests/integ 2>&1 | tee "$log/integ"
add_pytest "$log/integ"

stage "fuzz smoke (libFuzzer, 5 s per target)"
if FUZZ_TIME=5 bash scripts/fuzz.sh 2>&1 | tee "$log/fuzz"; then :; fi
f_ok=$(grep -oE '^fuzz: [0-9]+ passed' "$log/fuzz" | awk '{print $2}')
f_bad=$(grep -oE '[0-9]+ failed$' "$log/fuzz" | tail -1 | awk '{print $1}')
[ -z "$f_ok" ] && f_bad=$(( ${f_bad:-0} + 1 ))
passed=$((passed + ${f_ok:-0})); failed=$((failed + ${f_bad:-0}))

stage "ASan+UBSan build: unit + integration"
if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
  meson setup "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null
else
  meson setup --reconfigure "$ASAN_BUILD" >/dev/null
fi
if ninja -C "$ASAN_BUILD" >"$log/asan-build" 2>&1; then
  export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  meson test -C "$ASAN_BUILD" --print-errorlogs 2>&1 | tee "$log/asan-unit"
  add_meson "$log/asan-unit"
  # Role processes exit with live allocations by design; leaks are checked
  # by the unit tests, memory errors by both.
  ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 RAVEN_SANITIZED=1 \
    RAVEND="$PWD/$ASAN_BUILD/src/parent/ravend" $PY -m pytest -q -p no:cacheprovider tests/integ 2>&1 | tee "$log/asan-integ"
  add_pytest "$log/asan-integ"
else
  cat "$log/asan-build"; failed=$((failed + 1))
fi

echo
echo "=== total ==="
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
