#!/usr/bin/env bash
# Runs .clusterfuzzlite/build.sh here as the OSS-Fuzz builder image runs it (clang, ASan,
# libFuzzer via LIB_FUZZING_ENGINE), then each target it produced for a few seconds from its
# seed corpus zip and dictionary. ctest label fuzz-build; exit 77 (skipped, with the reason)
# when clang or its libFuzzer runtime is missing.
#
#   fuzz/cfl-local.sh [DIR] [SECONDS]    defaults: build-cfl 5; DIR holds src/ work/ out/
# work/ is kept between runs (an incremental build); out/ is rebuilt every time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/build-cfl}"
SECONDS_PER_TARGET="${2:-5}"

# --- the builder's environment (infra/base-images/base-builder, SANITIZER=address) ----------
export CC=clang CXX=clang++
for tool in "$CC" "$CXX"; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool not found; the ClusterFuzzLite build needs clang (scripts/packages.txt)"
    exit 77
  fi
done
for tool in zip unzip; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool not found; the ClusterFuzzLite build packs seed corpora (scripts/packages.txt)"
    exit 77
  fi
done
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  > "$probe/p.cpp"
if ! "$CXX" -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  echo "SKIP: $CXX cannot link -fsanitize=fuzzer,address (libclang-rt-*-dev missing?):"
  cat "$probe/err"
  exit 77
fi
export SANITIZER=address FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=c++ ARCHITECTURE=x86_64
export SANITIZER_FLAGS="-fsanitize=address -fsanitize-address-use-after-scope"
export COVERAGE_FLAGS="-fsanitize=fuzzer-no-link"
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only \
-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $SANITIZER_FLAGS $COVERAGE_FLAGS"
export CXXFLAGS="$CFLAGS -stdlib=libc++"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export SRC="$DIR/src" WORK="$DIR/work" OUT="$DIR/out" DROPCHECK_SRC="$ROOT"
mkdir -p "$SRC" "$WORK"
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== build.sh (CC=$CC CXX=$CXX SANITIZER=$SANITIZER)"
(cd "$ROOT" && bash -eu "$ROOT/.clusterfuzzlite/build.sh") >"$DIR/build.log" 2>&1 || {
  tail -n 60 "$DIR/build.log"; echo "FAIL: build.sh"; exit 1; }
tail -n 1 "$DIR/build.log"

# --- what the runner expects in $OUT, and a short run of each target ---------------------
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
status=0
mapfile -t targets < "$WORK/dropcheck-build/fuzz/targets.txt"
for t in "${targets[@]}"; do
  name="${t}_fuzz"
  for f in "$OUT/$name" "$OUT/$name.dict" "$OUT/${name}_seed_corpus.zip"; do
    [ -s "$f" ] || { echo "FAIL: $f missing or empty"; status=1; continue 2; }
  done
  corpus="$DIR/run/$name"
  rm -rf "$corpus" && mkdir -p "$corpus"
  unzip -q -o "$OUT/${name}_seed_corpus.zip" -d "$corpus"
  if "$OUT/$name" -seed=1 -max_total_time="$SECONDS_PER_TARGET" -dict="$OUT/$name.dict" -timeout=10 \
      -rss_limit_mb=2560 -artifact_prefix="$DIR/run/$name-" "$corpus" >"$DIR/run/$name.log" 2>&1; then
    echo "ok   $name: $(grep -Eo 'exec/s: [0-9]+' "$DIR/run/$name.log" | tail -n 1)"
  else
    echo "FAIL $name (log $DIR/run/$name.log):"; tail -n 30 "$DIR/run/$name.log"; status=1
  fi
done
exit "$status"
