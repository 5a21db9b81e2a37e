#!/usr/bin/env bash
# `promtool check metrics` on every golden exposition file the unit tests compare against
# (tests/unit/golden/*.prom). promtool exits 1 when the text format is broken and 3 when it only
# has naming lints. Both fail this check, except the lints listed in ACCEPTED below (none today:
# every PgBouncer name passes promtool's lint, including pgbouncer_exporter's compatible ones).
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v promtool >/dev/null || { echo "golden_promtool: promtool not found (Debian: prometheus)" >&2; exit 1; }

# Accepted lint lines, as promtool prints them (one extended regex per entry).
ACCEPTED=()

# promtool must really reject a broken exposition, or this check proves nothing.
if printf 'broken_metric{label="x" 1\n' | promtool check metrics >/dev/null 2>&1; then
  echo "golden_promtool: promtool accepted a broken exposition" >&2
  exit 1
fi

shopt -s nullglob
files=("$src"/tests/unit/golden/*.prom)
[ ${#files[@]} -gt 0 ] || { echo "golden_promtool: no golden files under $src/tests/unit/golden" >&2; exit 1; }

fail=0
for f in "${files[@]}"; do
  set +e
  out=$(promtool check metrics <"$f" 2>&1)
  rc=$?
  set -e
  case $rc in
    0) ;;
    3)
      while IFS= read -r line; do
        [ -n "$line" ] || continue
        ok=0
        for a in "${ACCEPTED[@]+"${ACCEPTED[@]}"}"; do
          if [[ $line =~ $a ]]; then ok=1; fi
        done
        if [ $ok = 0 ]; then
          echo "golden_promtool: $(basename "$f"): lint: $line" >&2
          fail=1
        fi
      done <<<"$out"
      ;;
    *)
      echo "golden_promtool: $(basename "$f"): promtool exit $rc (format error):" >&2
      echo "$out" >&2
      fail=1
      ;;
  esac
done
[ $fail = 0 ] && echo "golden_promtool: ${#files[@]} golden files pass promtool check metrics"
exit $fail
