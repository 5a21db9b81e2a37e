#!/usr/bin/env bash
# Prometheus rules (dashboards/poolwatch-rules.yaml): `promtool check rules`, `promtool test rules`
# with a unit test per rule (tests/lint/poolwatch-rules.test.yaml), the Helm chart's copy in sync,
# and a mutation check: moving any alert threshold makes the unit tests fail, so they really pin
# the thresholds the built-in rules use.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
rules=$src/dashboards/poolwatch-rules.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$rules"
(cd "$src/tests/lint" && promtool test rules poolwatch-rules.test.yaml)

cmp -s "$rules" "$src/helm/poolwatch/files/poolwatch-rules.yaml" || {
  echo "helm/poolwatch/files/poolwatch-rules.yaml is not a copy of dashboards/poolwatch-rules.yaml" >&2
  exit 1
}

# Mutations: each expression fragment below, changed, must break `promtool test rules`.
mkdir -p "$tmp/a/b"
cp "$src/tests/lint/poolwatch-rules.test.yaml" "$tmp/a/b/"
mkdir -p "$tmp/dashboards"
mutations=(
  'poolwatch_pool_utilization_ratio > 0.8$|poolwatch_pool_utilization_ratio > 0.85'
  'poolwatch_pool_utilization_ratio > 0.9$|poolwatch_pool_utilization_ratio > 0.96'
  'poolwatch_error_ratio > 0.05|poolwatch_error_ratio > 0.25'
  'poolwatch_error_window_events >= 20|poolwatch_error_window_events >= 10'
  'poolwatch_connection_leaks > 0|poolwatch_connection_leaks > 2'
  'poolwatch_pg_oldest_transaction_age_seconds > 60$|poolwatch_pg_oldest_transaction_age_seconds > 59'
  'poolwatch_pg_oldest_transaction_age_seconds > 300$|poolwatch_pg_oldest_transaction_age_seconds > 400'
  'pgbouncer_pools_client_maxwait_seconds) > 5$|pgbouncer_pools_client_maxwait_seconds) > 4'
  'pgbouncer_pools_client_maxwait_seconds) > 15$|pgbouncer_pools_client_maxwait_seconds) > 25'
  'poolwatch_target_up == 0|poolwatch_target_up < 2'
  'poolwatch_last_sample_timestamp_seconds > 60|poolwatch_last_sample_timestamp_seconds > 200'
)
# promtool resolves rule_files relative to the test file: ../../dashboards/poolwatch-rules.yaml.
# First the unchanged copy must pass there, or every mutation would be "caught" for nothing.
cp "$rules" "$tmp/dashboards/poolwatch-rules.yaml"
(cd "$tmp/a/b" && promtool test rules poolwatch-rules.test.yaml >/dev/null) || {
  echo "the unit tests fail on an unchanged copy of the rules" >&2; exit 1; }
for m in "${mutations[@]}"; do
  from=${m%%|*}
  to=${m#*|}
  sed -E "s/$(printf '%s' "$from" | sed 's/[.[\*^()]/\\&/g')/$(printf '%s' "$to" | sed 's/[&/]/\\&/g')/" \
    "$rules" > "$tmp/dashboards/poolwatch-rules.yaml"
  if cmp -s "$rules" "$tmp/dashboards/poolwatch-rules.yaml"; then
    echo "mutation '$from' did not apply: the rule file changed; update tests/lint/rules.sh" >&2
    exit 1
  fi
  if (cd "$tmp/a/b" && promtool test rules poolwatch-rules.test.yaml >/dev/null 2>&1); then
    echo "the unit tests still pass with '$from' changed to '$to': they do not pin that threshold" >&2
    exit 1
  fi
done
echo "rules: ok (${#mutations[@]} threshold mutations all caught)"
