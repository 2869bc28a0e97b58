#!/usr/bin/env bash
# CI fuzzing: builds every libFuzzer target (fuzz/targets.cmake) with clang + ASan + UBSan in
# BUILD_DIR and runs each for SECONDS seconds from its seeds and dictionary.
#
#   fuzz/ci-fuzz.sh [BUILD_DIR] [SECONDS] [TARGET...]   defaults: build-fuzz 60, every target;
#                                                       SECONDS=0: build only
#
# Exit status: 0 when every target ran clean, 1 on a crash/leak/timeout (the input is written to
# BUILD_DIR/fuzz-artifacts/<target>-crash-...), 2 on a build failure.
# Only this script's targets are built, so other folders being mid-edit does not matter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-build-fuzz}"
SECONDS_PER_TARGET="${2:-60}"
shift $(( $# > 2 ? 2 : $# ))
CC_BIN="${CC:-clang-14}"
CXX_BIN="${CXX:-clang++-14}"
# libFuzzer, not the compiler, decides what a crash is; the sanitizers abort on first error.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

echo "== configure $BUILD_DIR (clang, ASan+UBSan, libFuzzer)"
mkdir -p "$BUILD_DIR"
if ! CC="$CC_BIN" CXX="$CXX_BIN" cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROPCHECK_SANITIZE=ON -DDROPCHECK_FUZZ=ON \
    -DDROPCHECK_BENCH=OFF >"$BUILD_DIR/configure.log" 2>&1; then
  cat "$BUILD_DIR/configure.log"; exit 2
fi
if [ $# -gt 0 ]; then TARGETS=("$@"); else mapfile -t TARGETS < "$BUILD_DIR/fuzz/targets.txt"; fi
echo "== build ${TARGETS[*]}"
if ! ninja -C "$BUILD_DIR" "${TARGETS[@]/%/_fuzz}"; then exit 2; fi
if [ "$SECONDS_PER_TARGET" -eq 0 ]; then exit 0; fi  # libFuzzer reads 0 as "no limit"

status=0
mkdir -p "$BUILD_DIR/fuzz-artifacts"
for t in "${TARGETS[@]}"; do
  work="$BUILD_DIR/fuzz-corpus/$t"   # grows across runs; seeds stay untouched in the tree
  mkdir -p "$work"
  xargs -d '\n' cp -n -t "$work" < "$BUILD_DIR/fuzz/seeds/$t.txt"  # the shipped files too
  echo "== $t: ${SECONDS_PER_TARGET}s"
  if ! "$BUILD_DIR/fuzz/${t}_fuzz" \
      -seed=1 -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
      -dict="$ROOT/fuzz/dict/$t.dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$BUILD_DIR/fuzz-artifacts/$t-" \
      "$work" 2>"$BUILD_DIR/fuzz-artifacts/$t.log"; then
    echo "!! $t failed; log tail:"; tail -n 40 "$BUILD_DIR/fuzz-artifacts/$t.log"
    status=1
  else
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" \
      "$BUILD_DIR/fuzz-artifacts/$t.log" || true
  fi
done
exit "$status"
