#!/usr/bin/env bash
# Runs every benchmark binary in BUILD_DIR. Usage: run_bench.sh BUILD_DIR
set -euo pipefail
build=$1
for bench in $(find "$build" -maxdepth 1 -type f -name '*_bench' -perm -u+x | sort); do
  echo "== $(basename "$bench")"
  "$bench" --benchmark_counters_tabular=true
done
