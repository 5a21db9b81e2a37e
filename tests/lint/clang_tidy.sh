#!/usr/bin/env bash
# clang-tidy (.clang-tidy: bugprone, performance, concurrency, selected cert and analyzer checks)
# on the project's own sources, using the build's compile_commands.json. Two parallel jobs; the
# run is cut off after POOLWATCH_TIDY_BUDGET seconds (default 1400), a bound against a hang, not a
# speed target: the 60-odd files take 8 to 10 minutes of both cores on a loaded 2-core machine.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:?}
build=${POOLWATCH_BUILD_DIR:?}
budget=${POOLWATCH_TIDY_BUDGET:-1400}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$tidy" ]; then echo "clang-tidy not installed (scripts/install-deps)"; exit 1; fi
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json"; exit 1; }
cd "$src"
shopt -s nullglob
files=""
for f in base/*.cc collectors/*.cc exporter/*.cc alerts/*.cc; do
  case "$f" in *_test.cc | *_fuzz.cc) ;; *) files="$files $f" ;; esac
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
# gcc-only flags in the compile database are unknown to clang: do not let them become errors.
status=0
printf '%s\n' $files | timeout "$budget" xargs -P 2 -n 1 "$tidy" -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unused-command-line-argument \
  >"$log" 2>&1 || status=$?
if [ $status -ne 0 ]; then
  grep -E "warning:|error:" "$log" | grep -v "warnings generated" | sort -u | head -50
  [ $status -eq 124 ] && echo "clang-tidy exceeded its ${budget}s budget"
  echo "clang-tidy: FAILED"
  exit 1
fi
echo "clang-tidy: $(echo $files | wc -w) files clean in $(( $(date +%s) - start ))s"
