#!/usr/bin/env bash
# Checks the file-length lint: a tree whose files are at the limit passes; a .hpp or .cpp one line
# over it fails and is named; other kinds of file are not counted.
set -u
lint=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/sub"
seq 1000 > "$work/tree/at_limit.cpp"
seq 1000 > "$work/tree/sub/at_limit.hpp"
seq 5000 > "$work/tree/notes.txt"
if ! bash "$lint" "$work/tree" >/dev/null; then
  echo "FAIL: the lint rejects files at the limit"; exit 1
fi
failed=0
for name in long.cpp sub/long.hpp; do
  rm -f "$work/tree/long.cpp" "$work/tree/sub/long.hpp"
  seq 1001 > "$work/tree/$name"
  if out=$(bash "$lint" "$work/tree" 2>/dev/null); then
    echo "FAIL: the lint missed $name (1001 lines)"; failed=1
  elif ! grep -q "$work/tree/$name: 1001 lines" <<<"$out"; then
    echo "FAIL: the lint does not name $name: $out"; failed=1
  fi
done
if MAX_LINES=2000 bash "$lint" "$work/tree" >/dev/null; then :; else
  echo "FAIL: MAX_LINES does not raise the limit"; failed=1
fi
[ "$failed" -eq 0 ] && echo "the file-length lint passes files at the limit and names longer ones"
exit "$failed"
