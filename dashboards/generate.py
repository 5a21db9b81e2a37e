#!/usr/bin/env python3
"""Generates poolwatch's Grafana dashboards (the JSON files beside this script).

The JSON is what users import; this script is how it stays consistent (one panel helper, one
selector per dashboard, ids and grid positions computed). Edit here, then run
`dashboards/generate.py` and commit both; tests/lint/dashboards.sh fails when they differ.

Every query avoids `or vector(0)`-style padding that would hide a missing metric: the live test
(tests/integration/dashboards_test.cc) requires each query to return series from a real stack.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
# A data link from a per-pool series of the overview to the pool detail dashboard, with that
# series' target, database and user (and the overview's datasource, job, instance, time range).
POOL_LINK = [{
    "title": "Pool detail: ${__field.labels.target} ${__field.labels.database}/${__field.labels.user}",
    "url": "/d/poolwatch-pool/poolwatch-pool?${datasource:queryparam}&${job:queryparam}"
           "&${instance:queryparam}&var-target=${__field.labels.target}"
           "&var-database=${__field.labels.database}&var-user=${__field.labels.user}"
           "&${__url_time_range}",
}]


def variable_datasource():
    return {
        "name": "datasource", "label": "Data source", "type": "datasource",
        "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
        "includeAll": False, "multi": False, "options": [],
    }


def variable_query(name, label, query, multi=True, include_all=True):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor"},
        "refresh": 2, "sort": 1, "hide": 0, "regex": "",
        "multi": multi, "includeAll": include_all, "allValue": ".*" if include_all else None,
        "current": {}, "options": [],
    }


# Many replicas (README "Fleet"): poolwatch runs in every pod of an application. The namespace
# and pod variables pick pods (kube-prometheus-stack's PodMonitor/ServiceMonitor add those target
# labels; without them the variables are empty and "All" matches everything). PostgreSQL gauges
# take max, not sum, over pods: a shared target is exported by its elected holder only, and even
# with `shared: false` every pod reports the same database, so a sum would count it N times.
POD = 'job=~"$job",namespace=~"$namespace",pod=~"$pod"'


def fleet_variables():
    return [variable_query("namespace", "Namespace",
                           'label_values(poolwatch_build_info{job=~"$job"}, namespace)'),
            variable_query("pod", "Pod",
                           'label_values(poolwatch_build_info{job=~"$job",'
                           'namespace=~"$namespace"}, pod)')]


class Dashboard:
    def __init__(self, uid, title, description, tags, variables):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.variables = variables
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def row(self, title):
        self.newline()
        self.panels.append({
            "id": self.next_id, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": [],
        })
        self.next_id += 1
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_height
            self.x = 0
            self.row_height = 0

    def panel(self, kind, title, description, targets, w=8, h=8, unit=None, min_=None,
              max_=None, thresholds=None, options=None, mappings=None, stack=False, links=None):
        if self.x + w > 24:
            self.newline()
        defaults = {"color": {"mode": "palette-classic"}, "mappings": mappings or []}
        if links:
            defaults["links"] = links
        if kind in ("gauge", "stat", "bargauge"):
            defaults["color"] = {"mode": "thresholds"}
        if unit:
            defaults["unit"] = unit
        if min_ is not None:
            defaults["min"] = min_
        if max_ is not None:
            defaults["max"] = max_
        steps = [{"color": "green", "value": None}]
        for value, color in (thresholds or []):
            steps.append({"color": color, "value": value})
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        if kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                "spanNulls": False, "stacking": {"mode": "normal" if stack else "none"},
                "thresholdsStyle": {"mode": "line" if thresholds else "off"},
            }
        opts = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else {}
        if kind in ("gauge", "stat", "bargauge"):
            opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "auto"}
            if kind == "gauge":
                opts.update({"showThresholdLabels": False, "showThresholdMarkers": True})
            if kind == "stat":
                opts.update({"colorMode": "background", "graphMode": "none",
                             "justifyMode": "auto", "textMode": "auto"})
        if kind == "table":
            opts = {"showHeader": True}
        opts.update(options or {})
        refs = "ABCDEFGHIJ"
        self.panels.append({
            "id": self.next_id, "type": kind, "title": title, "description": description,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": opts,
            "targets": [
                dict({"refId": refs[i], "datasource": DS, "expr": expr, "legendFormat": legend,
                      "range": kind not in ("table",), "instant": kind == "table"},
                     **({"format": "table"} if kind == "table" else {}))
                for i, (expr, legend) in enumerate(targets)
            ],
        })
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": self.tags, "editable": True, "graphTooltip": 1, "schemaVersion": 38,
            "version": 1, "timezone": "", "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"},
            "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "poolwatch dashboards", "type": "dashboards", "tags": ["poolwatch"],
                       "asDropdown": True, "includeVars": True, "keepTime": True}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


UP_MAPPING = [{"type": "value", "options": {
    "0": {"text": "DOWN", "color": "red", "index": 0},
    "1": {"text": "UP", "color": "green", "index": 1}}}]


def overview():
    pw = POD + ',instance=~"$instance"'
    s = pw + ',target=~"$target"'
    pgdb = s + ',datname=~"$database"'
    pgbdb = s + ',database=~"$database"'
    d = Dashboard(
        "poolwatch-overview", "poolwatch / Overview",
        "PostgreSQL and PgBouncer pools watched by poolwatch: health, saturation, waits, leaks, "
        "long transactions, errors, throughput, alerts and poolwatch's own health.",
        ["poolwatch", "postgresql", "pgbouncer"],
        [variable_datasource(),
         variable_query("job", "Job", "label_values(poolwatch_build_info, job)"),
         *fleet_variables(),
         variable_query("instance", "Instance",
                        'label_values(poolwatch_build_info{%s}, instance)' % POD),
         variable_query("target", "Target",
                        'label_values(poolwatch_target_up{%s}, target)' % pw),
         variable_query("database", "Database",
                        'label_values(pg_stat_activity_count{%s,target=~"$target"}, datname)'
                        % pw)])

    d.row("Targets")
    d.panel("stat", "Targets up",
            "1 when poolwatch's last sample of the target succeeded (poolwatch_target_up).",
            [("poolwatch_target_up{%s}" % s, "{{target}} ({{kind}})")],
            w=8, h=5, mappings=UP_MAPPING, thresholds=[(1, "green")],
            options={"colorMode": "background"})
    d.panels[-1]["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["color"] = "red"
    d.panel("stat", "Sample age",
            "Seconds since poolwatch last finished a sample of the target. It grows when the "
            "sampler is stuck (SamplerStale alert).",
            [("time() - poolwatch_last_sample_timestamp_seconds{%s}" % s, "{{target}}")],
            w=8, h=5, unit="s", thresholds=[(30, "orange"), (60, "red")])
    d.panel("table", "Why a target is down",
            "The current down reason per target (1 = this is the reason; all 0 while up).",
            [("max by (target, kind, reason) (poolwatch_target_down_reason{%s})" % s, "")],
            w=8, h=5)
    d.panel("state-timeline", "Target health",
            "poolwatch's health level per target (healthy, degraded, unhealthy), from the same "
            "thresholds its alerts use.",
            [("max by (target, level) (poolwatch_target_health{%s}) == 1" % s,
              "{{target}} {{level}}")],
            w=24, h=5)

    d.row("Connections and saturation")
    d.panel("timeseries", "PostgreSQL connections by state vs limit",
            "Client backends per state (pg_stat_activity, poolwatch's own excluded) against "
            "max_connections minus superuser_reserved_connections.",
            [("max by (target, state) (pg_stat_activity_count{%s})" % pgdb,
              "{{target}} {{state}}"),
             ("max by (target) (pg_settings_max_connections{%s}"
              " - pg_settings_superuser_reserved_connections{%s})" % (s, s),
              "{{target}} limit")],
            w=12, stack=False)
    d.panel("gauge", "Pool utilization (busiest pool per kind)",
            "poolwatch_pool_utilization_ratio: PgBouncer server connections / pool size, "
            "PgBouncer clients / max_client_conn, PostgreSQL backends / usable connections. "
            "Alerts at 80% (warning) and 90% (critical).",
            [("max by (target, kind) (poolwatch_pool_utilization_ratio{%s})" % s,
              "{{target}} {{kind}}")],
            w=12, unit="percentunit", min_=0, max_=1, thresholds=[(0.8, "orange"), (0.9, "red")])
    d.panel("timeseries", "Pool utilization",
            "Utilization per pool over time, with the 80% and 90% alert thresholds.",
            [("poolwatch_pool_utilization_ratio{%s}" % s,
              "{{target}} {{kind}} {{database}} {{user}}")],
            w=12, unit="percentunit", min_=0, thresholds=[(0.8, "orange"), (0.9, "red")])
    d.panel("timeseries", "PgBouncer server connections per pool",
            "Server connections active (linked to a client), idle and used (just released) per "
            "pool (SHOW POOLS).",
            [("sum by (target, database, user) "
              "(pgbouncer_pools_server_active_connections{%s})" % pgbdb,
              "{{target}} {{database}}/{{user}} active"),
             ("sum by (target, database, user) (pgbouncer_pools_server_idle_connections{%s})"
              % pgbdb, "{{target}} {{database}}/{{user}} idle"),
             ("sum by (target, database, user) (pgbouncer_pools_server_used_connections{%s})"
              % pgbdb, "{{target}} {{database}}/{{user}} used")],
            w=12, links=POOL_LINK)

    d.row("Waiting clients")
    d.panel("timeseries", "Waiting clients",
            "Clients queued for a server connection: at the sample (cl_waiting) and the peak "
            "poolwatch's fast sampling saw since the previous sample.",
            [("sum by (target, database, user) "
              "(pgbouncer_pools_client_waiting_connections{%s})" % pgbdb,
              "{{target}} {{database}}/{{user}} waiting"),
             ("max by (target, database, user) "
              "(poolwatch_pgbouncer_waiting_clients_peak{%s})" % pgbdb,
              "{{target}} {{database}}/{{user}} peak")],
            w=8, links=POOL_LINK)
    d.panel("timeseries", "Longest client wait",
            "How long the oldest waiting client has waited (maxwait, with microseconds), and its "
            "peak between samples. Alerts above 5s (warning) and 15s (critical).",
            [("max by (target, database, user) "
              "(pgbouncer_pools_client_maxwait_seconds{%s})" % pgbdb,
              "{{target}} {{database}}/{{user}}"),
             ("max by (target, database, user) "
              "(poolwatch_pgbouncer_maxwait_peak_seconds{%s})" % pgbdb,
              "{{target}} {{database}}/{{user}} peak")],
            w=8, unit="s", thresholds=[(5, "orange"), (15, "red")], links=POOL_LINK)
    d.panel("timeseries", "Time with waiting clients",
            "Fraction of time each pool had clients waiting "
            "(rate of poolwatch_pgbouncer_waiting_seconds_total).",
            [("sum by (target, database, user) "
              "(rate(poolwatch_pgbouncer_waiting_seconds_total{%s}[$__rate_interval]))" % pgbdb,
              "{{target}} {{database}}/{{user}}")],
            w=8, unit="percentunit", min_=0)

    d.row("Leaks, long transactions, errors")
    d.panel("timeseries", "Connection leaks",
            "Connections held past the leak timeout: PostgreSQL sessions idle in transaction, "
            "PgBouncer server connections whose client went quiet, poolwatch's own probe "
            "checkouts. Alerts above 0.",
            [("max by (target, kind) (poolwatch_connection_leaks{%s})" % s,
              "{{target}} {{kind}}")],
            w=8, min_=0, thresholds=[(1, "red")])
    d.panel("timeseries", "Oldest transaction ages",
            "Age of the oldest open transaction, the oldest idle-in-transaction session and "
            "the oldest active query, per database. Alerts at 60s (warning) and 300s (critical).",
            [("max by (target, datname) (poolwatch_pg_oldest_transaction_age_seconds{%s})"
              % pgdb, "{{target}} {{datname}} transaction"),
             ("max by (target, datname) "
              "(poolwatch_pg_oldest_idle_in_transaction_age_seconds{%s})" % pgdb,
              "{{target}} {{datname}} idle in transaction"),
             ("max by (target, datname) (poolwatch_pg_oldest_active_query_age_seconds{%s})"
              % pgdb, "{{target}} {{datname}} active query"),
             ("max by (target, datname) (pg_stat_activity_max_tx_duration{%s})" % pgdb,
              "{{target}} {{datname}} (pg_stat_activity_max_tx_duration)")],
            w=8, unit="s", thresholds=[(60, "orange"), (300, "red")])
    d.panel("timeseries", "Error rates",
            "Failed fraction over poolwatch's error window (default 5m): rollbacks / "
            "transactions, abnormal session ends / sessions, failed probes. Alerts above 5% "
            "when the window holds enough events.",
            [("max by (target, kind) (poolwatch_error_ratio{%s})" % s, "{{target}} {{kind}}")],
            w=8, unit="percentunit", min_=0, thresholds=[(0.05, "red")])
    d.panel("timeseries", "Blocked and lock-waiting backends",
            "Backends blocked by another (pg_blocking_pids) and backends waiting on a lock.",
            [("max by (target, datname) (poolwatch_pg_blocked_backends{%s})" % pgdb,
              "{{target}} {{datname}} blocked"),
             ("max by (target, datname) (poolwatch_pg_lock_waiting_backends{%s})" % pgdb,
              "{{target}} {{datname}} waiting on a lock")],
            w=12, min_=0)
    d.panel("timeseries", "Long-running transactions",
            "Transactions open longer than each configured threshold.",
            [("max by (target, threshold) (poolwatch_pg_transactions_over_threshold{%s})" % s,
              "{{target}} > {{threshold}}")],
            w=12, min_=0)

    d.row("Throughput (PgBouncer SHOW STATS)")
    d.panel("timeseries", "Queries and transactions per second",
            "Queries and transactions PgBouncer pooled, per database.",
            [("sum by (target, database) "
              "(rate(pgbouncer_stats_totals_queries_pooled_total{%s}[$__rate_interval]))" % pgbdb,
              "{{target}} {{database}} queries/s"),
             ("sum by (target, database) (rate(pgbouncer_stats_totals_sql_transactions_pooled_total"
              "{%s}[$__rate_interval]))" % pgbdb, "{{target}} {{database}} transactions/s")],
            w=8, unit="reqps")
    d.panel("timeseries", "Average query and transaction duration",
            "Time spent in queries (and in transactions) per query (per transaction).",
            [("sum by (target, database) (rate(pgbouncer_stats_totals_queries_duration_seconds_total"
              "{%s}[$__rate_interval])) / sum by (target, database) "
              "(rate(pgbouncer_stats_totals_queries_pooled_total{%s}[$__rate_interval]) > 0)"
              % (pgbdb, pgbdb), "{{target}} {{database}} query"),
             ("sum by (target, database) (rate("
              "pgbouncer_stats_totals_server_in_transaction_seconds_total{%s}[$__rate_interval]))"
              " / sum by (target, database) (rate("
              "pgbouncer_stats_totals_sql_transactions_pooled_total{%s}[$__rate_interval]) > 0)"
              % (pgbdb, pgbdb), "{{target}} {{database}} transaction")],
            w=8, unit="s")
    d.panel("timeseries", "Client wait time per second",
            "Seconds clients spent waiting for a server connection, per second of wall time.",
            [("sum by (target, database) (rate(pgbouncer_stats_totals_client_wait_seconds_total"
              "{%s}[$__rate_interval]))" % pgbdb, "{{target}} {{database}}")],
            w=8, unit="s")

    d.row("Alerts")
    d.panel("table", "Alerts in poolwatch's notifier",
            "Alerts poolwatch's built-in rules hold, by state (poolwatch_alerts).",
            [("sum by (alertname, severity, state) (poolwatch_alerts{%s})" % pw, "")],
            w=12)
    d.panel("table", "Firing alerts in Prometheus",
            "Alerts from dashboards/poolwatch-rules.yaml firing in Prometheus.",
            [('sum by (alertname, severity, target, kind, database, user) '
              '(ALERTS{%s,alertstate="firing"})' % s, "")],
            w=12)

    d.row("poolwatch itself")
    d.panel("timeseries", "Collector success",
            "1 when each collector succeeded in the last sample of a reachable target.",
            [("min by (target, collector) (poolwatch_collector_success{%s})" % s,
              "{{target}} {{collector}}")],
            w=8, min_=0, max_=1)
    d.panel("timeseries", "Sample duration",
            "How long each target's sample took; it must stay under sampling.timeout.",
            [("max by (target) (poolwatch_sample_duration_seconds{%s})" % s, "{{target}}")],
            w=8, unit="s")
    d.panel("timeseries", "Probe pool connections",
            "poolwatch's own connections to each target, by state, against the pool's maximum.",
            [("sum by (target, state) (poolwatch_probe_pool_connections{%s})" % s,
              "{{target}} {{state}}"),
             ("max by (target) (poolwatch_probe_pool_max_connections{%s})" % s,
              "{{target}} max")],
            w=8)
    d.panel("timeseries", "Notifications per second",
            "Notifications poolwatch sent, by receiver and result (delivered, retried, failed).",
            [("sum by (receiver, result) (rate(poolwatch_notifications_total{%s}"
              "[$__rate_interval]))" % pw, "{{receiver}} {{result}}")],
            w=8, unit="reqps")
    d.panel("timeseries", "Dropped notifications",
            "Notifications dropped (queue overflow, deadline). Receivers with none show 0.",
            [("sum by (receiver) (increase(poolwatch_notifications_dropped_total{%s}"
              "[$__rate_interval])) or sum by (receiver) (poolwatch_notifications_total{%s}) * 0"
              % (pw, pw), "{{receiver}}")],
            w=8, min_=0, thresholds=[(1, "red")])
    d.panel("stat", "Config reload",
            "0 after a failed SIGHUP reload: poolwatch keeps running on the old configuration.",
            [("min by (instance) (poolwatch_config_last_reload_successful{%s})" % pw,
              "{{instance}}")],
            w=8, h=8,
            mappings=[{"type": "value", "options": {
                "0": {"text": "FAILED", "color": "red", "index": 0},
                "1": {"text": "OK", "color": "green", "index": 1}}}],
            thresholds=[(1, "green")])
    d.panels[-1]["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["color"] = "red"
    d.panel("table", "poolwatch versions",
            "poolwatch_build_info per instance.",
            [("max by (instance, version, revision) (poolwatch_build_info{%s})" % pw, "")],
            w=24, h=5)
    return d


def pool_detail():
    pw = POD + ',instance=~"$instance"'
    t = pw + ',target=~"$target"'
    p = t + ',database=~"$database",user=~"$user"'
    db = t + ',database=~"$database"'
    pgdb = pw + ',datname=~"$database"'
    d = Dashboard(
        "poolwatch-pool", "poolwatch / Pool detail",
        "One PgBouncer pool (database/user) in detail, with the PostgreSQL database behind it.",
        ["poolwatch", "pgbouncer"],
        [variable_datasource(),
         variable_query("job", "Job", "label_values(poolwatch_build_info, job)"),
         *fleet_variables(),
         variable_query("instance", "Instance",
                        'label_values(poolwatch_build_info{%s}, instance)' % POD),
         variable_query("target", "PgBouncer target",
                        'label_values(pgbouncer_up{%s}, target)' % pw, multi=False,
                        include_all=False),
         variable_query("database", "Database",
                        'label_values(pgbouncer_pools_client_active_connections'
                        '{%s,target=~"$target"}, database)' % pw, multi=False,
                        include_all=False),
         variable_query("user", "User",
                        'label_values(pgbouncer_pools_client_active_connections'
                        '{%s,target=~"$target",database=~"$database"}, user)' % pw)])

    d.row("Saturation")
    d.panel("gauge", "Server pool utilization",
            "Active server connections / the pool's effective size. Alerts at 80% and 90%.",
            [('max by (database, user) (poolwatch_pool_utilization_ratio{%s,'
              'kind="pgbouncer_server"})' % p, "{{database}}/{{user}}")],
            w=6, unit="percentunit", min_=0, max_=1, thresholds=[(0.8, "orange"), (0.9, "red")])
    d.panel("timeseries", "Server connections vs pool size",
            "Server connections by state against the database's pool_size (SHOW DATABASES).",
            [("sum by (user) (pgbouncer_pools_server_active_connections{%s})" % p,
              "{{user}} active"),
             ("sum by (user) (pgbouncer_pools_server_idle_connections{%s})" % p, "{{user}} idle"),
             ("sum by (user) (pgbouncer_pools_server_used_connections{%s})" % p, "{{user}} used"),
             ("sum by (user) (pgbouncer_pools_server_testing_connections{%s}"
              " + pgbouncer_pools_server_login_connections{%s})" % (p, p),
              "{{user}} testing + login"),
             ('max by (name) (pgbouncer_databases_pool_size{%s,name=~"$database"})' % t,
              "pool_size")],
            w=18)
    d.panel("timeseries", "Client connections",
            "Clients linked to a server (active) and queued for one (waiting), with cancel "
            "requests.",
            [("sum by (user) (pgbouncer_pools_client_active_connections{%s})" % p,
              "{{user}} active"),
             ("sum by (user) (pgbouncer_pools_client_waiting_connections{%s})" % p,
              "{{user}} waiting"),
             ("sum by (user) (pgbouncer_pools_client_active_cancel_connections{%s}"
              " + pgbouncer_pools_client_waiting_cancel_connections{%s})" % (p, p),
              "{{user}} cancel requests")],
            w=12)
    d.panel("timeseries", "Waiting clients: peak and longest wait",
            "Peak of cl_waiting and of maxwait between samples (fast sampling), and maxwait at "
            "the sample. Alerts above 5s and 15s.",
            [("max by (user) (poolwatch_pgbouncer_waiting_clients_peak{%s})" % p,
              "{{user}} peak waiting clients"),
             ("max by (user) (poolwatch_pgbouncer_maxwait_peak_seconds{%s})" % p,
              "{{user}} peak maxwait (s)"),
             ("max by (user) (pgbouncer_pools_client_maxwait_seconds{%s})" % p,
              "{{user}} maxwait (s)")],
            w=12, thresholds=[(5, "orange"), (15, "red")])
    d.panel("timeseries", "Time with waiting clients",
            "Fraction of time this pool had clients waiting.",
            [("sum by (user) (rate(poolwatch_pgbouncer_waiting_seconds_total{%s}"
              "[$__rate_interval]))" % p, "{{user}}")],
            w=12, unit="percentunit", min_=0)
    d.panel("timeseries", "Leaked server connections",
            "PgBouncer server connections linked to a client that has sent nothing for longer "
            "than the leak timeout.",
            [('max by (target) (poolwatch_connection_leaks{%s,kind="pgbouncer_server"})' % t,
              "{{target}}")],
            w=12, min_=0, thresholds=[(1, "red")])

    d.row("Throughput (SHOW STATS)")
    d.panel("timeseries", "Queries and transactions per second",
            "Pooled queries and transactions for this database.",
            [("sum (rate(pgbouncer_stats_totals_queries_pooled_total{%s}[$__rate_interval]))"
              % db, "queries/s"),
             ("sum (rate(pgbouncer_stats_totals_sql_transactions_pooled_total{%s}"
              "[$__rate_interval]))" % db, "transactions/s")],
            w=8, unit="reqps")
    d.panel("timeseries", "Average durations",
            "Average query time, transaction time and client wait time.",
            [("sum (rate(pgbouncer_stats_totals_queries_duration_seconds_total{%s}"
              "[$__rate_interval])) / (sum (rate(pgbouncer_stats_totals_queries_pooled_total{%s}"
              "[$__rate_interval])) > 0)" % (db, db), "query"),
             ("sum (rate(pgbouncer_stats_totals_server_in_transaction_seconds_total{%s}"
              "[$__rate_interval])) / (sum (rate("
              "pgbouncer_stats_totals_sql_transactions_pooled_total{%s}[$__rate_interval])) > 0)"
              % (db, db), "transaction"),
             ("sum (rate(pgbouncer_stats_totals_client_wait_seconds_total{%s}"
              "[$__rate_interval]))" % db, "client wait per second")],
            w=8, unit="s")
    d.panel("timeseries", "Network traffic",
            "Bytes PgBouncer received from and sent to clients for this database.",
            [("sum (rate(pgbouncer_stats_totals_received_bytes_total{%s}[$__rate_interval]))"
              % db, "received"),
             ("sum (rate(pgbouncer_stats_totals_sent_bytes_total{%s}[$__rate_interval]))" % db,
              "sent")],
            w=8, unit="Bps")

    d.row("PostgreSQL database behind the pool")
    d.panel("timeseries", "Backends by state",
            "Client backends of this database per state (pg_stat_activity).",
            [("max by (target, state) (pg_stat_activity_count{%s})" % pgdb,
              "{{target}} {{state}}")],
            w=8, stack=True)
    d.panel("timeseries", "Oldest transaction ages",
            "Oldest open transaction, idle-in-transaction session and active query in this "
            "database. Alerts at 60s and 300s.",
            [("max by (target) (poolwatch_pg_oldest_transaction_age_seconds{%s})" % pgdb,
              "{{target}} transaction"),
             ("max by (target) (poolwatch_pg_oldest_idle_in_transaction_age_seconds{%s})" % pgdb,
              "{{target}} idle in transaction"),
             ("max by (target) (poolwatch_pg_oldest_active_query_age_seconds{%s})" % pgdb,
              "{{target}} active query")],
            w=8, unit="s", thresholds=[(60, "orange"), (300, "red")])
    d.panel("timeseries", "Blocked backends",
            "Backends of this database blocked by another, and waiting on a lock.",
            [("max by (target) (poolwatch_pg_blocked_backends{%s})" % pgdb, "{{target}} blocked"),
             ("max by (target) (poolwatch_pg_lock_waiting_backends{%s})" % pgdb,
              "{{target}} waiting on a lock")],
            w=8, min_=0)

    d.row("Alerts")
    d.panel("table", "Firing alerts for this pool",
            "Alerts from dashboards/poolwatch-rules.yaml firing in Prometheus for this pool.",
            [('sum by (alertname, severity, kind) (ALERTS{%s,alertstate="firing"})' % p, "")],
            w=24, h=6)
    return d


DASHBOARDS = {
    "poolwatch-overview.json": overview,
    "poolwatch-pool.json": pool_detail,
}


def render(factory):
    return json.dumps(factory().json(), indent=2, sort_keys=False) + "\n"


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else HERE
    for name, factory in DASHBOARDS.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(render(factory))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
