#!/usr/bin/env bash
# File-length lint (DESIGN.md section 10: files stay below about 1,000 lines): fails when a .hpp
# or .cpp file under the given directories has more than MAX_LINES lines (default 1000), and
# prints each such file as file: N lines (limit MAX_LINES).
# Usage: lint_file_length.sh DIR...   (MAX_LINES=N in the environment to change the limit)
set -u
max=${MAX_LINES:-1000}
if [ $# -eq 0 ]; then
  echo "usage: lint_file_length.sh DIR..." >&2
  exit 2
fi
for dir in "$@"; do
  if [ ! -d "$dir" ]; then
    echo "file length: no such directory: $dir" >&2
    exit 2
  fi
done

status=0
checked=0
while IFS= read -r -d '' file; do
  checked=$((checked + 1))
  lines=$(wc -l < "$file")
  if [ "$lines" -gt "$max" ]; then
    echo "$file: $lines lines (limit $max)"
    status=1
  fi
done < <(find "$@" -type f \( -name '*.hpp' -o -name '*.cpp' \) -print0 | sort -z)

if [ "$status" -eq 0 ]; then
  echo "file length: all $checked files in $* have at most $max lines"
else
  echo "file length: files over $max lines found; split them (DESIGN.md section 10)" >&2
fi
exit "$status"
