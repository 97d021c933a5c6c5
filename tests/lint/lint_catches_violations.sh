#!/usr/bin/env bash
# Plants each kind of violation in a copy of a clean tree and checks that the lint fails on it,
# and that the clean tree passes.
set -u
lint=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/clean"
cat > "$work/clean/ok.cpp" <<'CPP'
// A comment about std::chrono::steady_clock::now() and rand() must not trip the lint.
#include <chrono>
#include "smalti/streams/streams.hpp"
#include "smalti/tickets/ticket_validator.hpp"
int f(std::chrono::nanoseconds d) { return static_cast<int>(d.count()); }
struct Node { Clock& clock() const; Rng& random_source(); };
CPP
if ! bash "$lint" "$work/clean" >/dev/null; then
  echo "FAIL: the lint rejects a clean tree"; exit 1
fi
violations=(
  'auto t = std::chrono::steady_clock::now();'
  'auto t = std::chrono::system_clock::now();'
  'int x = rand();'
  'std::random_device rd;'
  'std::thread worker([] {});'
  'auto f = std::async([] { return 1; });'
  'const char* home = getenv("HOME");'
  '#include <boost/asio.hpp>'
  '#include <ngtcp2/ngtcp2.h>'
  '#include <gnutls/gnutls.h>'
  '#include <sqlite3.h>'
  '#include "sim/world.hpp"'
  '#include "smalti/sim/world.hpp"'
  '#include "smalti/real/runtime.hpp"'
  '#include <smalti/storage/sqlite_log_store.hpp>'
  '#include "smalti/tee/quote.hpp"'
  'long now = time(nullptr);'
  'auto ticks = clock();'
  'for (auto& x : my_unordered_map) emit(x);'
)
failed=0
for v in "${violations[@]}"; do
  rm -rf "$work/bad"; mkdir -p "$work/bad"
  printf '%s\n' "$v" > "$work/bad/planted.cpp"
  if bash "$lint" "$work/bad" >/dev/null 2>&1; then
    echo "FAIL: the lint missed: $v"; failed=1
  fi
done
[ "$failed" -eq 0 ] && echo "lint catches all ${#violations[@]} planted violations"
exit "$failed"
