#!/usr/bin/env bash
# scripts/check-format.sh: every tracked C/C++ file as .clang-format (Google, 100 columns) says.
#   scripts/check-format.sh         # exit 1 and the files that differ
#   scripts/check-format.sh --fix   # reformat them in place
# Needs clang-format (Debian package clang-format; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc' '*.c')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  printf 'check-format: not formatted (run scripts/check-format.sh --fix):\n' >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted ($(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))"
