#!/usr/bin/env bash
# clang-tidy (.clang-tidy: bugprone, performance, concurrency, selected cert and analyzer checks)
# on the project's own sources, using the build's compile_commands.json, in two passes:
#  - the AST-matcher checks (every family but clang-analyzer-*) on batches of 8 sources of one
#    folder in sorted order, each batch one translation unit: the headers are parsed once per
#    batch, not once per source, and the included sources are checked as the headers are
#    (--header-filter). The batches are close to, not the same as, CMake's unity batches
#    (exporter/main.cc is in its own target there); a name that collides inside a batch fails here;
#  - the static analyzer (clang-analyzer-*) source by source: it analyses only the functions of
#    the main file, so a batch would hide every included source from it. This pass also runs
#    bugprone-suspicious-include, which a batch (a file of #include "x.cc") cannot.
# Two parallel jobs; the run is cut off after POOLWATCH_TIDY_BUDGET seconds (default 1400), a bound
# against a hang, not a speed target.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:?}
build=${POOLWATCH_BUILD_DIR:?}
budget=${POOLWATCH_TIDY_BUDGET:-1400}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$tidy" ]; then echo "clang-tidy not installed (scripts/install-deps)"; exit 1; fi
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json"; exit 1; }
cd "$src"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Batches: NAME.cc in $work including up to 8 sources of one folder, in CMake's (C locale) order,
# each with the compile command of its first source.
/usr/bin/python3 - "$src" "$build/compile_commands.json" "$work" <<'EOF'
import glob, json, os, shlex, sys
src, db, work = sys.argv[1:]
commands = {os.path.realpath(e["file"]): e for e in json.load(open(db))}
out, files = [], []
for folder in ("base", "collectors", "exporter", "alerts"):
    sources = sorted(f for f in glob.glob(os.path.join(src, folder, "*.cc"))
                     if not f.endswith(("_test.cc", "_fuzz.cc")))
    files += sources
    for i in range(0, len(sources), 8):
        batch = sources[i:i + 8]
        name = os.path.join(work, "%s_%d.cc" % (folder, i // 8))
        with open(name, "w") as f:
            f.writelines('#include "%s"\n' % s for s in batch)
        first = commands[os.path.realpath(batch[0])]
        args = shlex.split(first["command"]) if "command" in first else list(first["arguments"])
        args = [name if os.path.realpath(os.path.join(first["directory"], a)) == os.path.realpath(batch[0])
                else a for a in args]
        out.append({"directory": first["directory"], "file": name, "arguments": args})
json.dump(out, open(os.path.join(work, "compile_commands.json"), "w"))
open(os.path.join(work, "files"), "w").write("\n".join(files) + "\n")
EOF
common=(--quiet --config-file="$src/.clang-tidy"
        --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unused-command-line-argument)
# Jobs: "m BATCH" (matchers, on a batch) and "a SOURCE" (analyzer, on one source, biggest first).
{ ls "$work"/*_[0-9]*.cc | sed 's/^/m /'; xargs ls -S <"$work/files" | sed 's/^/a /'; } >"$work/jobs"
quoted=$(printf '%q ' "${common[@]}")
cat >"$work/one" <<EOF
#!/usr/bin/env bash
# gcc-only flags in the compile database are unknown to clang: do not let them become errors.
if [ "\$1" = m ]; then
  exec "$tidy" -p "$work" $quoted --checks=-clang-analyzer-*,-bugprone-suspicious-include \
    --header-filter='/(base|collectors|exporter|alerts)/[^/]*\.(h|cc)\$' "\$2"
else
  exec "$tidy" -p "$build" $quoted \
    --checks=-bugprone-*,-performance-*,-concurrency-*,-cert-*,bugprone-suspicious-include "\$2"
fi
EOF
chmod +x "$work/one"
start=$(date +%s)
status=0
timeout "$budget" xargs -P 2 -L 1 "$work/one" <"$work/jobs" >"$work/log" 2>&1 || status=$?
if [ $status -ne 0 ]; then
  grep -E "warning:|error:" "$work/log" | grep -v "warnings generated" | sort -u | head -50
  [ $status -eq 124 ] && echo "clang-tidy exceeded its ${budget}s budget"
  echo "clang-tidy: FAILED"
  exit 1
fi
echo "clang-tidy: $(wc -l <"$work/files") files clean in $(( $(date +%s) - start ))s" \
  "($(grep -c '^m ' "$work/jobs") batches for the matchers, one run per file for the analyzer)"
