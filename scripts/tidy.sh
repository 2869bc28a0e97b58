#!/usr/bin/env bash
# scripts/tidy.sh [BUILD_DIR] [FILE...]: clang-tidy with .clang-tidy over the non-test sources
# (or the files given), from BUILD_DIR's compile_commands.json (default build/). Minutes, not CI.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json" >&2; exit 2; }
if (($#)); then files=("$@"); else
  mapfile -t files < <(git ls-files '*.cpp' | grep -v -e '^tests/' -e '^fuzz/' -e '^bench/')
fi
printf '%s\n' "${files[@]}" | xargs -P2 -n8 clang-tidy -p "$build" --quiet
