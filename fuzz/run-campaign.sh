#!/usr/bin/env bash
# A long fuzzing campaign over every target (hours, not CI minutes).
#
#   fuzz/run-campaign.sh [HOURS] [JOBS] [BUILD_DIR]     defaults: 8 hours, nproc jobs, build-fuzz
#   PER_TARGET_SECONDS=10 fuzz/run-campaign.sh 0 2      a quick dry run of the whole procedure
#
# What it does:
#   1. builds the targets like ci-fuzz.sh (clang-14, ASan+UBSan, libFuzzer) in BUILD_DIR;
#   2. runs each target in turn for HOURS/3 with JOBS parallel workers (-fork), growing a
#      persistent corpus in BUILD_DIR/campaign/<target>/ seeded from fuzz/corpus/<target>/,
#      with the target's dictionary, -use_value_profile=1 and -entropic (default in clang-14);
#   3. minimises the grown corpus (-merge=1) into BUILD_DIR/campaign/<target>.min/.
# Afterwards: copy a handful of *new, interesting, small* files from <target>.min/ into
# fuzz/corpus/<target>/ (they then run under ctest -L fuzz-replay in every gcc build), and turn
# every crash in BUILD_DIR/campaign-artifacts/ into a plain TEST in tests/<folder>/ before fixing it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOURS="${1:-8}"
JOBS="${2:-$(nproc)}"
BUILD_DIR="${3:-build-fuzz}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

# Build only (ci-fuzz.sh with 0 seconds does not fuzz).
"$ROOT/fuzz/ci-fuzz.sh" "$BUILD_DIR" 0 >/dev/null || { echo "build failed" >&2; exit 2; }

mapfile -t TARGETS < "$BUILD_DIR/fuzz/targets.txt"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
per_target="${PER_TARGET_SECONDS:-$(( HOURS * 3600 / ${#TARGETS[@]} ))}"  # env override for a dry run
mkdir -p "$BUILD_DIR/campaign-artifacts"
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/campaign/$t"
  mkdir -p "$corpus" "$corpus.min"
  xargs -d '\n' cp -n -t "$corpus" < "$BUILD_DIR/fuzz/seeds/$t.txt"
  echo "== $t: ${per_target}s, $JOBS jobs, corpus $corpus"
  "$BUILD_DIR/fuzz/${t}_fuzz" -fork="$JOBS" -ignore_crashes=1 -max_total_time="$per_target" \
    -dict="$ROOT/fuzz/dict/$t.dict" -use_value_profile=1 -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$BUILD_DIR/campaign-artifacts/$t-" \
    "$corpus" 2>"$BUILD_DIR/campaign-artifacts/$t.log" || true
  "$BUILD_DIR/fuzz/${t}_fuzz" -merge=1 "$corpus.min" "$corpus" \
    2>>"$BUILD_DIR/campaign-artifacts/$t.log" || true
  echo "   corpus $(ls "$corpus" | wc -l) -> minimised $(ls "$corpus.min" | wc -l) files"
done
echo "crashes/timeouts/leaks:"
ls "$BUILD_DIR/campaign-artifacts" | grep -E -- '-(crash|timeout|leak|oom)-' || echo "  none"
