#!/usr/bin/env bash
# Build every libFuzzer target (clang, ASan+UBSan) and run each for
# FUZZ_TIME seconds from its checked-in seed corpus. New inputs go to a
# scratch directory, never into the checked-in corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-10}
if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
  CC=clang meson setup "$FUZZ_BUILD" -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
else
  meson setup --reconfigure "$FUZZ_BUILD" >/dev/null  # picks up new targets
fi
ninja -C "$FUZZ_BUILD" >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pass=0 fail=0
for corpus in tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  bin="$FUZZ_BUILD/tests/fuzz/fuzz_$name"
  [ -x "$bin" ] || { echo "fuzz: no target for corpus $name" >&2; fail=$((fail+1)); continue; }
  mkdir -p "$scratch/$name"
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$bin" "$scratch/$name" "$corpus" -max_total_time="$FUZZ_TIME" -rss_limit_mb=2048 \
       -artifact_prefix="$scratch/" -print_final_stats=1 >"$scratch/$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$name.log" | awk '{print $2}') runs)"
    pass=$((pass+1))
  else
    echo "fuzz: $name FAILED"; tail -40 "$scratch/$name.log"
    fail=$((fail+1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
