#!/usr/bin/env bash
# Grafana dashboards (dashboards/*.json): generated from dashboards/generate.py and committed in
# sync; importable as they are (schemaVersion >= 36, a `datasource` variable and no __inputs,
# the job/instance/target/database variables, every panel and query on ${datasource}); every
# panel query parses as PromQL (checked offline by promtool, each query wrapped in a recording
# rule). The live test (integration_dashboards_test) runs them against a real Prometheus.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$src/dashboards/generate.py" "$tmp"
for f in "$tmp"/*.json; do
  name=$(basename "$f")
  if ! cmp -s "$f" "$src/dashboards/$name"; then
    echo "dashboards/$name differs from dashboards/generate.py's output; run dashboards/generate.py" >&2
    diff -u "$src/dashboards/$name" "$f" | head -40 >&2
    exit 1
  fi
done

python3 - "$src" "$tmp/panel-queries.rules.yaml" <<'PY'
import glob, json, os, re, sys
src, rules_out = sys.argv[1], sys.argv[2]
problems = []
rules = []
files = sorted(glob.glob(os.path.join(src, "dashboards", "*.json")))
if len(files) < 2:
    problems.append("expected an overview and a pool detail dashboard, found %d" % len(files))
for path in files:
    name = os.path.basename(path)
    d = json.load(open(path, encoding="utf-8"))
    def bad(msg):
        problems.append("%s: %s" % (name, msg))
    if d.get("schemaVersion", 0) < 36:
        bad("schemaVersion %s < 36" % d.get("schemaVersion"))
    if "__inputs" in d:
        bad("has __inputs (provisioned dashboards cannot resolve them); use the datasource variable")
    if not d.get("uid") or not d.get("title"):
        bad("needs a uid and a title")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    for want in ("datasource", "job", "instance", "target", "database"):
        if want not in variables:
            bad("missing template variable %r" % want)
    if variables.get("datasource", {}).get("type") != "datasource" or \
            variables.get("datasource", {}).get("query") != "prometheus":
        bad("the datasource variable must be of type datasource, query prometheus")
    for v in variables.values():
        if v["type"] == "query" and v.get("datasource", {}).get("uid") != "${datasource}":
            bad("variable %s does not use ${datasource}" % v["name"])
    ids = set()
    n = 0
    for p in d["panels"]:
        title = p.get("title", "?")
        if p["id"] in ids:
            bad("duplicate panel id %s" % p["id"])
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            bad("panel %r overflows the 24-column grid" % title)
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            bad("panel %r does not use ${datasource}" % title)
        if not p.get("targets"):
            bad("panel %r has no query" % title)
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            if t.get("datasource", {}).get("uid") != "${datasource}":
                bad("panel %r query %s does not use ${datasource}" % (title, t.get("refId")))
            if "vector(0)" in expr:
                bad("panel %r pads with vector(0), which hides a missing metric" % title)
            for var in re.findall(r"\$(\w+)", expr):
                if var not in variables and var != "__rate_interval":
                    bad("panel %r uses undefined variable $%s" % (title, var))
            concrete = expr.replace("$__rate_interval", "1m")
            concrete = re.sub(r"\$(\w+)", ".*", concrete)
            n += 1
            rules.append({"record": "panel:%s:%d" % (re.sub(r"\W", "_", name[:-5]), n),
                          "expr": concrete, "title": "%s / %s" % (name, title)})
with open(rules_out, "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: panels\n    rules:\n")
    for r in rules:
        f.write("      # %s\n      - record: %s\n        expr: %s\n"
                % (r["title"], r["record"], json.dumps(r["expr"])))
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("dashboards: %d files, %d panel queries" % (len(files), len(rules)))
PY

# promtool parses every query; on failure its message names the rule, and the comment above the
# rule in the generated file names the panel.
if ! out=$(promtool check rules "$tmp/panel-queries.rules.yaml" 2>&1); then
  echo "$out" >&2
  grep -n "" "$tmp/panel-queries.rules.yaml" | head -200 >&2
  exit 1
fi
echo "$out" | tail -1

# The chart ships copies of the dashboards (Helm cannot read files outside the chart).
for f in "$src"/dashboards/*.json; do
  copy="$src/helm/poolwatch/files/dashboards/$(basename "$f")"
  cmp -s "$f" "$copy" || { echo "$copy is not a copy of dashboards/$(basename "$f")" >&2; exit 1; }
done
echo "dashboards: ok"
