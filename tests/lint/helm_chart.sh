#!/usr/bin/env bash
# The Helm chart (helm/poolwatch), verified without a cluster:
#  - every ci/*-values.yaml renders with Go text/template + sprig (tests/lint/helmrender, the
#    engine Helm uses) into objects that validate against the Kubernetes and prometheus-operator
#    schemas (npm kubernetes-models) and the chart's own rules (non-root, read-only root FS, drop
#    ALL, /healthz and /readyz probes, config checksum, preStop shorter than the grace period);
#  - the merged values of each scenario validate against values.schema.json;
#  - scenario specifics: inject mode through a host chart's Deployment, the native sidecar on
#    1.29 (and a clear failure on 1.28), no Secret with existing secrets, the webhook URL only in
#    a Secret, the PrometheusRule equal to the promtool-tested rule file (thresholds from values);
#  - bad values fail with a clear message: Slack without a webhook secret (schema and template),
#    a writable root filesystem (policy), a malformed container (Kubernetes schema);
#  - `helm lint` and `helm template` on every scenario when helm is on the PATH.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${POOLWATCH_BUILD_DIR:-$src/build}
chart=$src/helm/poolwatch
lint=$src/tests/lint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The renderer (Go in GOPATH mode against Debian's sprig; cached by go's build cache).
(cd "$lint/helmrender" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go build -o "$tmp/helmrender" .) \
  || fail "cannot build tests/lint/helmrender (install-deps: golang-go, golang-github-masterminds-sprig-dev)"

# The validator's npm packages, installed once per build dir from the committed lock file.
v=$build/k8s-validate
mkdir -p "$v"
if ! cmp -s "$lint/k8s-validate/package-lock.json" "$v/package-lock.json" || [ ! -d "$v/node_modules" ]; then
  cp "$lint/k8s-validate/package.json" "$lint/k8s-validate/package-lock.json" "$v/"
  (cd "$v" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null) \
    || fail "npm ci in $v failed"
fi
cp "$lint/k8s-validate/validate.js" "$v/"
validate() { node "$v/validate.js" "$@"; }

render() { # name kube-version [helmrender args...]
  local name=$1 kube=$2
  shift 2
  "$tmp/helmrender" -chart "$chart" -kube-version "$kube" -values-json "$tmp/$name.values.json" \
    "$@" > "$tmp/$name.yaml"
}

kube_for() { case $1 in native-sidecar) echo 1.29.0 ;; *) echo 1.27.0 ;; esac; }

scenarios=()
for f in "$chart"/ci/*-values.yaml; do
  name=$(basename "$f" -values.yaml)
  scenarios+=("$name")
  extra=()
  case $name in inject|multi-replica-inject) extra=(-extra-template "$lint/helm-host/host-deployment.yaml") ;; esac
  render "$name" "$(kube_for "$name")" -f "$f" "${extra[@]}" || fail "ci/$name-values.yaml does not render"
  echo -n "$name: "
  validate objects "$tmp/$name.yaml" || fail "ci/$name-values.yaml renders invalid objects"
  "$tmp/helmrender" -chart "$chart" -kube-version "$(kube_for "$name")" -f "$f" -notes > "$tmp/$name.notes" \
    || fail "NOTES.txt does not render for $name"
done
for want in bundle inject multi-replica-inject native-sidecar existing-secrets alertmanager slack production tls-basic-auth; do
  [ -f "$chart/ci/$want-values.yaml" ] || fail "missing scenario ci/$want-values.yaml"
done
# values.yaml on its own (helm lint's view) and each scenario's merged values (helm install's).
"$tmp/helmrender" -chart "$chart" -values-json "$tmp/defaults.values.json" -notes >/dev/null
validate values "$chart/values.schema.json" "$tmp"/*.values.json || fail "values do not match values.schema.json"

# Scenario specifics.
has() { grep -q -- "$2" "$tmp/$1.yaml" || fail "$1: expected '$2' in the rendered objects"; }
hasnt() { ! grep -q -- "$2" "$tmp/$1.yaml" || fail "$1: did not expect '$2' in the rendered objects"; }
has bundle "kind: Deployment"
has bundle "name: pgbouncer"
has bundle "kind: ServiceMonitor"
has bundle "release: kube-prometheus-stack"
has bundle 'grafana_dashboard: "1"'
has bundle "poolwatch-overview.json"
has bundle "poolwatch-pool.json"
has bundle "helm.sh/hook: test"
has production "kind: NetworkPolicy"
has production "kind: PodDisruptionBudget"
grep -q "9930" "$tmp/bundle.notes" || fail "NOTES.txt does not name port 9930"
grep -q "helm test" "$tmp/bundle.notes" || fail "NOTES.txt does not mention helm test"
hasnt inject "kind: Service$"            # no Service or Deployment of its own: only the host's
[ "$(grep -c '^kind: Deployment' "$tmp/inject.yaml")" = 1 ] || fail "inject: expected only the host Deployment"
has inject "kind: PodMonitor"
has inject "app.kubernetes.io/name: my-app"
has inject "- name: poolwatch"          # the host Deployment got the sidecar
grep -q "extraContainers:" "$tmp/inject.notes" || fail "inject NOTES.txt lacks the values snippet"
grep -q "containerPort: 9930" "$tmp/inject.notes" || fail "inject NOTES.txt snippet lacks the port"
has native-sidecar "restartPolicy: Always"
hasnt native-sidecar "poolwatch-healthcheck"  # a native sidecar needs no preStop wait
hasnt existing-secrets "kind: Secret"
has existing-secrets "secretName: pgbouncer-stats"
has existing-secrets "secretName: slack-webhook"
has existing-secrets "key: username"
has slack "kind: Secret"
has slack "webhook_url_file: /etc/poolwatch/slack/webhook-url"
hasnt slack "hooks.slack.example"         # the URL only appears base64-encoded in the Secret
has alertmanager "http://alertmanager-1.alertmanager-operated:9093"
hasnt alertmanager "kind: PrometheusRule"   # each condition reaches Alertmanager once
# Many replicas: a shared PostgreSQL target with an election key equal in every pod,
# namespace/pod from the downward API into external_labels, a metrics port not named "http".
has multi-replica-inject "shared: true"
has multi-replica-inject "election_key:"
has multi-replica-inject "external_labels:"
has multi-replica-inject 'pod: "${POD_NAME}"'
has multi-replica-inject "fieldPath: metadata.name"
has multi-replica-inject "fieldPath: metadata.namespace"
has multi-replica-inject "port: poolwatch-http"
hasnt multi-replica-inject "kind: PrometheusRule"
hasnt multi-replica-inject "name: http$"
hasnt bundle "shared: true"                 # one bundle replica: nothing to elect
grep -q "Many replicas" "$tmp/multi-replica-inject.notes" || fail "multi-replica NOTES.txt does not explain the fleet"
grep -q "is shared: the pods elect one holder" "$tmp/multi-replica-inject.notes" || fail "multi-replica NOTES.txt does not explain the election"
printf 'prometheusRule: {enabled: true}\n' > "$tmp/both-am.yaml"
if render botham 1.27.0 -f "$chart/ci/alertmanager-values.yaml" -f "$tmp/both-am.yaml" 2>"$tmp/err"; then
  fail "the notifier to Alertmanager and the PrometheusRule together rendered"
fi
grep -q "send every condition to Alertmanager twice" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear double-Alertmanager error"; }
for name in "${scenarios[@]}"; do
  if grep -q "checksum/config" "$tmp/$name.yaml"; then :; else fail "$name: no checksum/config"; fi
done

# Structured checks of the single-replica fixes (tests/lint/k8s-validate/chart-checks.js).
cp "$lint/k8s-validate/chart-checks.js" "$v/"
node "$v/chart-checks.js" "$v" "$tmp" "${scenarios[@]}" || fail "chart checks"
if grep -q "deploy/" "$tmp/inject.notes"; then fail "inject NOTES.txt points at a Deployment that does not exist"; fi
grep -q ".Subcharts.poolwatch" "$tmp/inject.notes" || fail "inject NOTES.txt does not name .Subcharts.poolwatch"
grep -q "poolwatch.checksum" "$tmp/inject.notes" || fail "inject NOTES.txt does not name the checksum helper"
grep -q -- "--send-test-alert" "$tmp/inject.notes" || fail "inject NOTES.txt lacks the test-alert command (alerting is on there)"
# The secret checksum follows the chart-made Secret.
printf 'auth: {password: rotated}\n' > "$tmp/rotated.yaml"
render secret1 1.27.0 -f "$chart/ci/bundle-values.yaml"
render secret2 1.27.0 -f "$chart/ci/bundle-values.yaml" -f "$tmp/rotated.yaml"
[ "$(grep checksum/secret "$tmp/secret1.yaml")" != "$(grep checksum/secret "$tmp/secret2.yaml")" ] \
  || fail "checksum/secret did not change with the password"
# Inject: the host's grace must exceed the preStop wait (the helper fails rendering).
if "$tmp/helmrender" -chart "$chart" -kube-version 1.27.0 -f "$chart/ci/inject-values.yaml" \
     -extra-template "$lint/helm-host/host-short-grace.yaml" >/dev/null 2>"$tmp/err"; then
  fail "a host grace shorter than the preStop wait rendered"
fi
grep -q "must be longer than poolwatch's preStopSleepSeconds" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear grace error"; }
# Both monitors on would scrape twice.
printf 'podMonitor: {enabled: true}\n' > "$tmp/both-monitors.yaml"
if render both 1.27.0 -f "$chart/ci/bundle-values.yaml" -f "$tmp/both-monitors.yaml" 2>"$tmp/err"; then
  fail "serviceMonitor and podMonitor together rendered"
fi
grep -q "scrape every pod twice" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear double-scrape error"; }
# The policy checks can fail: secret files unreadable without an fsGroup, a sidecar without its uid.
sed 's/defaultMode: 292/defaultMode: 288/' "$tmp/inject.yaml" > "$tmp/inject-0440.yaml"
if validate objects "$tmp/inject-0440.yaml" >/dev/null 2>"$tmp/err"; then fail "secret mode 0440 without fsGroup passed"; fi
grep -q "unreadable by poolwatch's uid without an fsGroup" "$tmp/err" || { cat "$tmp/err" >&2; fail "secret mode message"; }
sed '/runAsUser: 65532/d' "$tmp/inject.yaml" > "$tmp/inject-nouid.yaml"
if validate objects "$tmp/inject-nouid.yaml" >/dev/null 2>"$tmp/err"; then fail "a sidecar without its own runAsUser passed"; fi
grep -q "poolwatch container sets no runAsUser" "$tmp/err" || { cat "$tmp/err" >&2; fail "runAsUser message"; }
# A parent's `condition: poolwatch.enabled` sets `enabled`: the schema must allow it.
printf 'enabled: true\n' > "$tmp/enabled.yaml"
"$tmp/helmrender" -chart "$chart" -f "$chart/ci/bundle-values.yaml" -f "$tmp/enabled.yaml" \
  -values-json "$tmp/enabled.json" -notes >/dev/null
validate values "$chart/values.schema.json" "$tmp/enabled.json" >/dev/null || fail "values.schema.json rejects enabled"
echo "single-replica fixes: ok"
bin=${POOLWATCH_BIN:-$build/exporter/poolwatch}

# TLS and basic auth from the chart, against the real binary: the web config the chart writes is
# one poolwatch accepts and serves (HTTPS; /healthz and /readyz 200 without credentials, which is
# why the probes stay httpGet; /metrics 401 without them, 200 with them); the helm test follows.
has tls-basic-auth "--web.config.file=/etc/poolwatch/web/web-config.yml"
has tls-basic-auth "scheme: https"
has tls-basic-auth "scheme: HTTPS"
has tls-basic-auth "path: /healthz"
has tls-basic-auth "path: /readyz"
cat > "$tmp/web-extract.js" <<'EOF'
const fs = require("fs"), yaml = require(process.argv[2] + "/node_modules/js-yaml");
const s = yaml.loadAll(fs.readFileSync(process.argv[3], "utf8"))
  .find((d) => d && d.kind === "Secret" && d.data && d.data["web-config.yml"]);
if (s) process.stdout.write(Buffer.from(s.data["web-config.yml"], "base64").toString());
EOF
wroot=$tmp/webroot
mkdir -p "$wroot/etc/poolwatch/tls"
node "$tmp/web-extract.js" "$v" "$tmp/tls-basic-auth.yaml" \
  | sed "s#/etc/poolwatch/#$wroot/etc/poolwatch/#g" > "$wroot/web-config.yml"
grep -q basic_auth_users "$wroot/web-config.yml" || fail "tls-basic-auth: no web config in the chart's Secret"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$wroot/etc/poolwatch/tls/tls.key" -out "$wroot/etc/poolwatch/tls/tls.crt" 2>/dev/null \
  || fail "openssl req"
wport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'targets:\n  pgbouncer:\n    - {name: gone, dsn: "host=127.0.0.1 port=1 dbname=pgbouncer user=stats"}\n' > "$wroot/pw.yaml"
"$bin" --check-config --config.file="$wroot/pw.yaml" --web.config.file="$wroot/web-config.yml" >"$tmp/err" 2>&1 \
  || { cat "$tmp/err" "$wroot/web-config.yml" >&2; fail "tls-basic-auth: poolwatch rejects the chart's web config"; }
"$bin" --config.file="$wroot/pw.yaml" --web.config.file="$wroot/web-config.yml" \
  --web.listen-address=127.0.0.1:$wport >"$tmp/web.log" 2>&1 &
wpid=$!
code=""
for _ in $(seq 1 100); do
  code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$wport/readyz" || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
live=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$wport/healthz" || true)
none=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$wport/metrics" || true)
ok=$(curl -sk -o /dev/null -w '%{http_code}' -u prometheus:ci-scrape-pw "https://127.0.0.1:$wport/metrics" || true)
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true
[ "$code" = 200 ] || { cat "$tmp/web.log" >&2; fail "tls-basic-auth: /readyz over HTTPS without credentials answered '$code', want 200"; }
[ "$live" = 200 ] || { cat "$tmp/web.log" >&2; fail "tls-basic-auth: /healthz over HTTPS without credentials answered '$live', want 200"; }
[ "$none" = 401 ] || { cat "$tmp/web.log" >&2; fail "tls-basic-auth: /metrics without credentials answered '$none', want 401"; }
[ "$ok" = 200 ] || { cat "$tmp/web.log" >&2; fail "tls-basic-auth: /metrics with the credentials answered '$ok', want 200"; }
echo "tls-basic-auth: the chart's web config serves HTTPS; /healthz $live and /readyz $code without credentials (httpGet probes), /metrics $none without and $ok with them"

# The poolwatch config the chart writes is one poolwatch accepts: the real binary's
# --check-config on each scenario's ConfigMap (paths moved into a temp root, secrets faked).
bin=${POOLWATCH_BIN:-$build/exporter/poolwatch}
cat > "$tmp/extract.js" <<'EOF'
const fs = require("fs"), yaml = require(process.argv[2] + "/node_modules/js-yaml");
const cm = yaml.loadAll(fs.readFileSync(process.argv[3], "utf8"))
  .find((d) => d && d.kind === "ConfigMap" && d.data && d.data["poolwatch.yaml"]);
if (cm) process.stdout.write(cm.data["poolwatch.yaml"]);
EOF
knows_alerts=0
"$bin" --help 2>&1 | grep -q -- --send-test-alert && knows_alerts=1
for name in "${scenarios[@]}"; do
  root=$tmp/root-$name
  node "$tmp/extract.js" "$v" "$tmp/$name.yaml" > "$tmp/$name.poolwatch.yaml"
  [ -s "$tmp/$name.poolwatch.yaml" ] || continue
  if grep -q '^alerts:' "$tmp/$name.poolwatch.yaml" && [ $knows_alerts = 0 ]; then
    echo "$name: config check skipped: this poolwatch build has no alerting yet"
    continue
  fi
  for f in $(grep -oE '/etc/poolwatch/[^" ]+' "$tmp/$name.poolwatch.yaml" | sort -u); do
    mkdir -p "$(dirname "$root$f")"
    case $f in
      /etc/poolwatch/slack/*) echo "https://hooks.slack.example/services/T0/B0/fake" > "$root$f" ;;
      *) echo "fake-secret" > "$root$f" ;;
    esac
  done
  mkdir -p "$root/var/lib/poolwatch"
  sed "s#/etc/poolwatch/#$root/etc/poolwatch/#g; s#/var/lib/poolwatch/#$root/var/lib/poolwatch/#g" \
    "$tmp/$name.poolwatch.yaml" > "$root.yaml"
  POD_NAME=app-0 POD_NAMESPACE=ci POOLWATCH_PGBOUNCER_USER=stats "$bin" --check-config --config.file="$root.yaml" >"$tmp/err" 2>&1 \
    || { cat "$tmp/err" "$root.yaml" >&2; fail "$name: poolwatch rejects the chart's config"; }
  echo "$name: poolwatch --check-config accepts the chart's config"
done

# The checksum follows the config: another sampling interval, another checksum.
render checksum 1.27.0 -f "$chart/ci/bundle-values.yaml"
printf 'sampling: {interval: 10s}\n' > "$tmp/interval.yaml"
render checksum2 1.27.0 -f "$chart/ci/bundle-values.yaml" -f "$tmp/interval.yaml"
a=$(grep "checksum/config" "$tmp/checksum.yaml")
b=$(grep "checksum/config" "$tmp/checksum2.yaml")
[ "$a" != "$b" ] || fail "checksum/config did not change with the config"

# The PrometheusRule is the promtool-tested rule file: equal with default thresholds, and with
# the alertmanager scenario's thresholds only those expressions differ.
cat > "$tmp/rules-compare.js" <<'EOF'
const fs = require("fs"), yaml = require(process.argv[2] + "/node_modules/js-yaml");
const rule = yaml.load(fs.readFileSync(process.argv[3], "utf8"));
const pr = yaml.loadAll(fs.readFileSync(process.argv[4], "utf8")).find((d) => d && d.kind === "PrometheusRule");
if (!pr) { console.error("no PrometheusRule rendered"); process.exit(1); }
const want = JSON.parse(process.argv[5] || "{}");
const diffs = [];
rule.groups.forEach((g, i) => g.rules.forEach((r, j) => {
  const got = pr.spec.groups[i].rules[j];
  const exp = want[r.alert || r.record] && want[r.alert || r.record][r.labels ? r.labels.severity : ""];
  const expr = exp ? r.expr.replace(exp[0], exp[1]) : r.expr;
  if (JSON.stringify({ ...r, expr }) !== JSON.stringify(got)) diffs.push(JSON.stringify(got));
}));
if (JSON.stringify(Object.keys(pr.spec)) !== '["groups"]' || pr.spec.groups.length !== rule.groups.length) diffs.push("group count");
if (diffs.length) { console.error("PrometheusRule differs from the rule file:\n" + diffs.join("\n")); process.exit(1); }
EOF
node "$tmp/rules-compare.js" "$v" "$src/dashboards/poolwatch-rules.yaml" "$tmp/bundle.yaml" \
  || fail "bundle: PrometheusRule is not dashboards/poolwatch-rules.yaml"
printf 'alerting: {alertmanager: {enabled: false}}\nprometheusRule: {enabled: true}\n' > "$tmp/rules-only.yaml"
render alertmanager-rules 1.27.0 -f "$chart/ci/alertmanager-values.yaml" -f "$tmp/rules-only.yaml"
node "$tmp/rules-compare.js" "$v" "$src/dashboards/poolwatch-rules.yaml" "$tmp/alertmanager-rules.yaml" \
  '{"PoolUtilizationHigh":{"warning":["> 0.8","> 0.75"]},"LongTransaction":{"warning":["> 60","> 120"]}}' \
  || fail "alertmanager: PrometheusRule thresholds are not the values' thresholds"

# Bad values fail, each with a message that says what to set.
if render badslack 1.27.0 -f "$lint/helm-bad/slack-without-secret-values.yaml" 2>"$tmp/err"; then
  fail "Slack enabled without a webhook secret rendered"
fi
grep -q "alerting.slack.existingSecret" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear Slack error"; }
echo "bad value rejected by the templates: $(grep -o 'alerting.slack.enabled is true[^"]*' "$tmp/err" | head -1)"
"$tmp/helmrender" -chart "$chart" -f "$lint/helm-bad/slack-without-secret-values.yaml" \
  -values-json "$tmp/badslack.json" -notes >/dev/null 2>&1 || true
if validate values "$chart/values.schema.json" "$tmp/badslack.json" 2>"$tmp/err"; then
  fail "values.schema.json accepts Slack without a webhook secret"
fi
grep -q "/alerting/slack" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear schema error"; }
echo "bad value rejected by values.schema.json: $(tr '\n' ';' < "$tmp/err")"
printf 'serviceMonitor: {enable: true}\n' > "$tmp/typo.yaml"   # "enable" for "enabled"
"$tmp/helmrender" -chart "$chart" -f "$tmp/typo.yaml" -values-json "$tmp/typo.json" -notes >/dev/null
if validate values "$chart/values.schema.json" "$tmp/typo.json" 2>"$tmp/err"; then
  fail "values.schema.json accepts a misspelt key"
fi
grep -q "must NOT have additional properties (enable)" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear typo error"; }
if render old 1.28.9 -f "$chart/ci/native-sidecar-values.yaml" 2>"$tmp/err"; then
  fail "the native sidecar rendered for Kubernetes 1.28"
fi
grep -q "nativeSidecar.enabled needs Kubernetes >= 1.29" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear native sidecar error"; }
render rw 1.27.0 -f "$lint/helm-bad/readonly-off-values.yaml"
if validate objects "$tmp/rw.yaml" 2>"$tmp/err"; then fail "a writable root filesystem passed"; fi
grep -q "root filesystem not read-only" "$tmp/err" || { cat "$tmp/err" >&2; fail "policy check message"; }
render mount 1.27.0 -f "$lint/helm-bad/bad-mount-values.yaml"
if validate objects "$tmp/mount.yaml" 2>"$tmp/err"; then fail "a malformed volumeMount passed"; fi
grep -q "mountPath must be string" "$tmp/err" || { cat "$tmp/err" >&2; fail "schema check message"; }

# The real helm, when there is one.
if command -v helm >/dev/null; then
  for name in "${scenarios[@]}"; do
    helm lint "$chart" -f "$chart/ci/$name-values.yaml" --kube-version "$(kube_for "$name")" >/dev/null \
      || fail "helm lint with ci/$name-values.yaml"
    helm template pw "$chart" -f "$chart/ci/$name-values.yaml" --kube-version "$(kube_for "$name")" \
      --api-versions monitoring.coreos.com/v1 > "$tmp/helm-$name.yaml" || fail "helm template $name"
    validate objects "$tmp/helm-$name.yaml" >/dev/null || fail "helm template $name: invalid objects"
  done
  echo "helm lint / helm template: ok"
else
  echo "helm is not on the PATH: helm lint / helm template skipped (rendered with tests/lint/helmrender)"
fi
echo "helm chart: ok (${#scenarios[@]} scenarios)"
