#!/usr/bin/env bash
# Smoke test of scripts/quickstart (README command 1), so it cannot rot: a bounded run with the
# built binary (POOLWATCH_BIN: no install, no build) and the quick start's own defaults. Asserts
# facts that do not depend on the messages' wording:
#  - it exits 0 (it saw a resolved message and no firing alert left in /status);
#  - after the incident began, a firing message for the held pool arrived naming the holder (the
#    report job's application_name or one of its backend pids);
#  - after the job committed, a message saying resolved arrived;
#  - both within 90 s of the quick start's start (the README's promise).
# Label `lint`, as every tests/lint script: the sanitizer stages do not run it.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${POOLWATCH_BIN:-$src/build/exporter/poolwatch}
[ -x "$bin" ] || { echo "FAIL: no built binary at $bin" >&2; exit 1; }
tmp=$(mktemp -d /tmp/poolwatch-quickstart-XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(date +%s)
if ! POOLWATCH_BIN=$bin POOLWATCH_PORT=$port QUICKSTART_DEMO_DIR=$tmp/demo \
     "$src/scripts/quickstart" --bounded >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  fail "scripts/quickstart --bounded failed"
fi
cat "$tmp/out"
d=$tmp/demo
for f in started incident-started incident-ended slack-received.jsonl slack-received.jsonl.times job.log; do
  [ -s "$d/$f" ] || fail "the quick start left no $f"
done
/usr/bin/env python3 - "$d" <<'PY'
import json, re, sys
d = sys.argv[1]
def num(name): return float(open(f"{d}/{name}").read().strip())
started, inc0, inc1 = num("started"), num("incident-started"), num("incident-ended")
bodies = [l for l in open(f"{d}/slack-received.jsonl") if l.strip()]
times = [float(t) for t in open(f"{d}/slack-received.jsonl.times") if t.strip()]
assert len(bodies) == len(times), (len(bodies), len(times))
pids = re.findall(r"backend pid (\d+)", open(f"{d}/job.log").read())
assert pids, "job.log names no backend pid"
def text(m):
    out = []
    def walk(v, key=None):
        if isinstance(v, dict):
            for k, x in v.items(): walk(x, k)
        elif isinstance(v, list):
            for x in v: walk(x, key)
        elif key == "text" and isinstance(v, str): out.append(v)
    walk(m)
    return "\n".join(out)
msgs = [(t, text(json.loads(b))) for t, b in zip(times, bodies)]
def names_holder(s):
    return "quickstart-report-job" in s or any(re.search(r"\b%s\b" % p, s) for p in pids)
firing = [(t, s) for t, s in msgs
          if inc0 <= t < inc1 + 1 and "resolved" not in s.lower() and "app" in s and names_holder(s)]
resolved = [(t, s) for t, s in msgs if t >= inc1 and "resolved" in s.lower()]
if not firing:
    sys.exit("FAIL: no firing message naming the holder (quickstart-report-job or pid %s) "
             "arrived during the incident; got:\n%s" % (pids, "\n---\n".join(s for _, s in msgs)))
if not resolved:
    sys.exit("FAIL: no resolved message after the job committed; got:\n%s"
             % "\n---\n".join(s for _, s in msgs))
tf, tr = firing[0][0] - started, resolved[0][0] - started
print("quickstart: firing with its who at +%.1fs (%.1fs after the incident began), resolved at "
      "+%.1fs (%.1fs after the job committed)" % (tf, firing[0][0] - inc0, tr, resolved[0][0] - inc1))
if tf > 90 or tr > 90:
    sys.exit("FAIL: the quick start promises firing and resolved within 90 s (firing +%.0fs, resolved +%.0fs)" % (tf, tr))
PY
echo "quickstart smoke: ok (whole test $(( $(date +%s) - t0 ))s)"
