#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every fuzz target (fuzz/targets.cmake) compiled with the
# builder's $CC $CXX $CFLAGS $CXXFLAGS and linked with $LIB_FUZZING_ENGINE, into $OUT as
# <target>_fuzz, with <target>_fuzz_seed_corpus.zip and <target>_fuzz.dict beside it.
# The builder image runs it (bash -eu) in $SRC/dropcheck; fuzz/cfl-local.sh runs it here with
# the same variables (ctest label fuzz-build).
set -euo pipefail
# The source: $SRC/dropcheck in the image; fuzz/cfl-local.sh points DROPCHECK_SRC at the
# checkout (a link would put the build directory inside the tree CMake is reading).
SRC_DIR="${DROPCHECK_SRC:-$SRC/dropcheck}"
BUILD="$WORK/dropcheck-build"

# OSS-Fuzz's CXXFLAGS ask for libc++; the distribution's yaml-cpp, fmt and OpenSSL are built
# against libstdc++, so the targets use libstdc++ too. (MemorySanitizer would need every
# library rebuilt instrumented: project.yaml does not list it.)
CXXFLAGS="${CXXFLAGS//-stdlib=libc++/}"
export CXXFLAGS

# CMAKE_BUILD_TYPE=None: only the builder's flags, none of CMake's -O2/-g of a build type.
cmake -S "$SRC_DIR" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_COMPILER="$CXX" \
  -DDROPCHECK_TESTS=OFF -DDROPCHECK_BENCH=OFF -DDROPCHECK_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"

mapfile -t targets < "$BUILD/fuzz/targets.txt"
ninja -C "$BUILD" "${targets[@]/%/_fuzz}"

for t in "${targets[@]}"; do
  name="${t}_fuzz"
  cp "$BUILD/fuzz/$name" "$OUT/$name"
  cp "$SRC_DIR/fuzz/dict/$t.dict" "$OUT/$name.dict"
  rm -f "$OUT/${name}_seed_corpus.zip"
  # -j: flat; the seed lists are absolute paths, one per line.
  xargs -d '\n' zip -q -j "$OUT/${name}_seed_corpus.zip" < "$BUILD/fuzz/seeds/$t.txt"
done
echo "built ${#targets[@]} fuzz targets into $OUT"
