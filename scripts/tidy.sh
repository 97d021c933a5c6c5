#!/usr/bin/env bash
# clang-tidy (Debian's clang-tidy 14) with the checked-in .clang-tidy over every translation unit of
# BUILD_DIR's compilation database that lies under one of the given directories, and over the
# project headers they include (.clang-tidy's HeaderFilterRegex). Prints each finding once (a
# header's is reported by every file that includes it) and fails on any finding, or when
# clang-tidy cannot parse a file. Usage: tidy.sh BUILD_DIR JOBS DIR...
set -uo pipefail
if [ $# -lt 3 ]; then
  echo "usage: tidy.sh BUILD_DIR JOBS DIR..." >&2
  exit 2
fi
build=$1
jobs=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: no $build/compile_commands.json (configure the build first)" >&2
  exit 2
fi
dirs=$(IFS='|'; echo "$*")
log=$(mktemp)
trap 'rm -f "$log"' EXIT

start=$(date +%s)
# The compile commands are GCC's: clang does not know -Wno-maybe-uninitialized (CMakeLists.txt).
run-clang-tidy-14 -p "$build" -j "$jobs" -quiet -extra-arg=-Wno-unknown-warning-option "^$root/($dirs)/" > "$log" 2>&1
status=$?
# Drop the colour codes and run-clang-tidy's own lines; keep each finding (its first line, which
# may lack a location, and the source, caret and note lines after it) the first time it appears.
findings=$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  /^clang-tidy-14 / || /^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$/ { next }
  /^Suppressed [0-9]+ warnings/ || /^Use -header-filter=/ { next }
  /^([^ ]+:[0-9]+:[0-9]+: )?(warning|error): / { keep = !seen[$0]++; if (keep) count++ }
  keep { print }
  END { if (count) printf "tidy: %d findings\n", count > "/dev/stderr" }')
elapsed=$(($(date +%s) - start))
if [ -n "$findings" ]; then
  printf '%s\n' "$findings"
  status=1
fi
if [ "$status" -ne 0 ]; then
  [ -n "$findings" ] || tail -n 40 "$log"
  echo "tidy: clang-tidy found problems in $* (${elapsed}s)" >&2
  exit 1
fi
echo "tidy: $* clean under .clang-tidy (${elapsed}s)"
