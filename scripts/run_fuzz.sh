#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, from its seed corpus in fuzz/seeds.
# Fails if any target finds a crash. Usage: run_fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
targets=$(find "$build" -maxdepth 1 -type f -name '*_fuzz' -perm -u+x | sort)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets in $build" >&2
  exit 1
fi
for target in $targets; do
  name=$(basename "$target")
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/seeds/$name" ] && seeds=("$root/fuzz/seeds/$name")
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/$name-" "$corpus" "${seeds[@]}" > "$build/$name.log" 2>&1; then
    tail -n 40 "$build/$name.log"
    echo "fuzz: $name FAILED (artifacts in $build/$name-*)" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$build/$name.log" | sed "s/^/  /" || true
done
echo "fuzz: all targets ran clean"
