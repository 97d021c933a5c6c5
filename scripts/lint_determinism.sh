#!/usr/bin/env bash
# Determinism lint for core/ (DESIGN.md section 10): fails when protocol code reads a clock, draws
# OS randomness, starts a thread, reads the environment, or includes a backend library.
# Usage: lint_determinism.sh [DIR]   (default: core). Prints each violation as file:line: rule.
set -u
dir=${1:-core}
if [ ! -d "$dir" ]; then
  echo "lint: no such directory: $dir" >&2
  exit 2
fi

# rule name | extended regex (matched against code with // comments stripped)
rules=(
  "reads a clock|std::chrono::(steady_clock|system_clock|high_resolution_clock|utc_clock|file_clock)|[^_[:alnum:]](clock_gettime|gettimeofday|timespec_get)[[:space:]]*\(|[^_.>[:alnum:]]time[[:space:]]*\([[:space:]]*(NULL|nullptr|0)?[[:space:]]*\)|std::clock[[:space:]]*\(|[^_.>[:alnum:]:]clock\(\)[[:space:]]*;"
  "uses OS or global randomness|std::random_device|[^_.>[:alnum:]](rand|srand|random|srandom|drand48|arc4random|getrandom|getentropy)[[:space:]]*\(|/dev/u?random|RAND_bytes"
  "starts a thread|std::(thread|jthread|async)[^_[:alnum:]]|pthread_create|<thread>|<future>"
  "reads the environment|[^_[:alnum:]](getenv|secure_getenv|setenv|putenv)[[:space:]]*\(|[^_[:alnum:]]environ[^_[:alnum:]]"
  "includes a backend library|#[[:space:]]*include[[:space:]]*[<\"](boost/asio|asio|ngtcp2|gnutls|sqlite3)[^>\"]*[>\"]|#[[:space:]]*include[[:space:]]*[<\"](smalti/)?(sim|real|storage|tee)/"
  "iterates an unordered container for output|for[[:space:]]*\(.*:[[:space:]]*[_[:alnum:]]*unordered_"
)

status=0
while IFS= read -r -d '' file; do
  # Strip // comments so prose about clocks does not trip the lint.
  stripped=$(sed -e 's://.*$::' "$file")
  for rule in "${rules[@]}"; do
    name=${rule%%|*}
    regex=${rule#*|}
    hits=$(printf '%s\n' "$stripped" | grep -nE -- "$regex" || true)
    if [ -n "$hits" ]; then
      while IFS= read -r hit; do
        echo "$file:${hit%%:*}: $name: ${hit#*:}"
      done <<< "$hits"
      status=1
    fi
  done
done < <(find "$dir" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' \) -print0 | sort -z)

if [ "$status" -eq 0 ]; then
  echo "lint: $dir is clean (no clocks, OS randomness, threads, environment or backend includes)"
else
  echo "lint: determinism violations found in $dir" >&2
fi
exit "$status"
