#!/usr/bin/env node
// Structured checks of the chart's single-replica fixes on the rendered scenarios:
//   chart-checks.js NODE_MODULES_DIR RENDER_DIR SCENARIO...   (RENDER_DIR/SCENARIO.yaml each)
"use strict";
const fs = require("fs");
const yaml = require(process.argv[2] + "/node_modules/js-yaml");
const dir = process.argv[3];
const problems = [];
const load = (n) => yaml.loadAll(fs.readFileSync(`${dir}/${n}.yaml`, "utf8")).filter((d) => d);
const need = (ok, msg) => { if (!ok) problems.push(msg); };
const canon = (x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon(x[k])]))
  : Array.isArray(x) ? x.map(canon) : x);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
for (const n of process.argv.slice(4)) {
  const docs = load(n);
  const of = (k) => docs.filter((d) => d.kind === k);
  for (const svc of of("Service")) {
    for (const p of svc.spec.ports) {
      // A named targetPort gets no endpoints from a native sidecar's port on 1.29-1.31.
      need(Number.isInteger(p.targetPort), `${n}: Service ${svc.metadata.name} port ${p.name}: targetPort ${p.targetPort} is not a number`);
      need(!(svc.spec.type !== "ClusterIP" && p.port === 9930), `${n}: ${svc.spec.type} Service ${svc.metadata.name} exposes /metrics`);
    }
  }
  const dep = of("Deployment").find((d) => d.metadata.name !== "my-app");
  const sel = dep && dep.spec.selector.matchLabels;
  for (const sm of of("ServiceMonitor")) {
    const hits = of("Service").filter((s) => Object.entries(sm.spec.selector.matchLabels)
      .every(([k, v]) => s.metadata.labels[k] === v));
    need(hits.length === 1 && hits[0].metadata.name.endsWith("-metrics"),
      `${n}: ServiceMonitor selects [${hits.map((h) => h.metadata.name)}] (want only the metrics Service)`);
  }
  const test = of("Pod").find((p) => p.metadata.annotations["helm.sh/hook"] === "test");
  need(test, `${n}: no helm test pod`);
  const fm = test && test.spec.containers.find((c) => c.name === "fetch-metrics");
  if (test) {
    const cc = test.spec.containers.find((c) => c.name === "check-config");
    need(cc && cc.args.includes("--check-config") &&
      cc.volumeMounts.some((m) => m.mountPath === "/etc/poolwatch/config"),
      `${n}: helm test runs no --check-config on the mounted config`);
    if (dep) {
      const cmd = fm ? fm.command.join(" ") : "";
      need(/\} 1\$'/.test(cmd) && /exit 1/.test(cmd), `${n}: helm test does not fail on pgbouncer_up 0: ${cmd}`);
    }
  }
  if (n === "production") {
    const pdb = of("PodDisruptionBudget")[0];
    need(pdb && same(pdb.spec.selector.matchLabels, sel) && pdb.spec.maxUnavailable === 1,
      `${n}: PDB missing or not selecting the Deployment`);
    const ps = dep.spec.template.spec;
    need(ps.priorityClassName === "high-priority", `${n}: no priorityClassName`);
    const tsc = (ps.topologySpreadConstraints || [])[0];
    need(tsc && tsc.topologyKey === "topology.kubernetes.io/zone" && same(tsc.labelSelector.matchLabels, sel),
      `${n}: topology spread without the pod's labelSelector`);
    const np = of("NetworkPolicy")[0];
    need(np && same(np.spec.podSelector.matchLabels, sel), `${n}: no NetworkPolicy for the pods`);
    const ports = np ? np.spec.ingress.map((r) => [r.ports[0].port, !!r.from]) : [];
    need(same(ports, [[6432, false], [9930, true]]), `${n}: NetworkPolicy ingress ${JSON.stringify(ports)}`);
    const sm = of("ServiceMonitor")[0];
    const ep = sm.spec.endpoints[0];
    need(sm.metadata.namespace === "monitoring" && same(sm.spec.namespaceSelector.matchNames, ["default"]),
      `${n}: ServiceMonitor namespace/namespaceSelector`);
    need(ep.scheme === "https" && ep.tlsConfig.insecureSkipVerify === true &&
      ep.basicAuth.password.name === "poolwatch-scrape", `${n}: ServiceMonitor scheme/tlsConfig/basicAuth`);
    need(same(sm.spec.targetLabels, ["app.kubernetes.io/instance"]), `${n}: ServiceMonitor targetLabels`);
    const pr = of("PrometheusRule")[0];
    const alerts = pr.spec.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a) => a));
    need(pr.metadata.namespace === "monitoring", `${n}: PrometheusRule namespace`);
    need(!alerts.includes("ErrorRateHigh") && alerts.includes("PgBouncerClientsHigh") &&
      alerts.includes("TargetDown") && alerts.includes("SamplerStale"),
      `${n}: PrometheusRule disable/extra rules: ${alerts}`);
    const lb = of("Service").find((s) => s.spec.type === "LoadBalancer");
    need(lb && same(lb.spec.ports.map((p) => p.port), [6432]), `${n}: the LoadBalancer Service is not PgBouncer's port alone`);
    need(of("ConfigMap").filter((c) => c.metadata.labels.grafana_dashboard === "1" &&
      c.metadata.namespace === "monitoring").length === 2, `${n}: dashboards not in grafanaDashboard.namespace`);
  }
  if (n === "tls-basic-auth") {
    // Basic auth leaves /healthz and /readyz open (kubelet sends no credentials): the probes stay
    // httpGet on them, over HTTPS, with no password in the pod spec.
    const pod = of("Deployment")[0].spec.template.spec;
    const pw = [...pod.containers, ...(pod.initContainers || [])].find((c) => c.name === "poolwatch");
    for (const [kind, path] of [["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"]]) {
      const g = pw[kind] && pw[kind].httpGet;
      need(g && g.path === path && g.scheme === "HTTPS" && g.port === "poolwatch-http" && !g.httpHeaders &&
        !pw[kind].tcpSocket, `${n}: poolwatch ${kind} is not httpGet ${path} over HTTPS: ${JSON.stringify(pw[kind])}`);
    }
  }
  if (n === "existing-secrets") { // grafanaDashboard left at its default: on
    need(of("ConfigMap").filter((c) => c.metadata.labels.grafana_dashboard === "1").length === 2,
      `${n}: dashboards not imported by default`);
  }
  if (n === "bundle") {
    // Per-pool panels of the overview link to the pool dashboard with that series' pool.
    const cm = (f) => of("ConfigMap").find((c) => c.data && c.data[f]);
    const ov = JSON.parse(cm("poolwatch-overview.json").data["poolwatch-overview.json"]);
    const pool = JSON.parse(cm("poolwatch-pool.json").data["poolwatch-pool.json"]);
    const poolVars = pool.templating.list.map((v) => v.name);
    const linked = ov.panels.filter((p) => ((p.fieldConfig || {}).defaults || {}).links);
    const good = linked.filter((p) => p.fieldConfig.defaults.links.every((l) =>
      l.url.startsWith(`/d/${pool.uid}/`) && ["target", "database", "user"].every((v) =>
        poolVars.includes(v) && l.url.includes(`var-${v}=\${__field.labels.${v}}`))));
    need(linked.length >= 3 && good.length === linked.length,
      `${n}: overview data links to the pool dashboard: ${linked.length} linked, ${good.length} right`);
    const ann = dep.spec.template.metadata.annotations;
    need(/^[0-9a-f]{64}$/.test(ann["checksum/secret"] || ""), `${n}: no checksum/secret`);
  }
  if (n === "inject") {
    const host = of("Deployment").find((d) => d.metadata.name === "my-app").spec.template.spec;
    const pw = host.containers.find((c) => c.name === "poolwatch");
    need(host.securityContext.fsGroup == null && pw.securityContext.runAsUser === 65532,
      `${n}: sidecar uid in a host pod without fsGroup`);
    const cmd = fm ? fm.command.join(" ") : "";
    need(cmd.includes("http://my-app-metrics:9930/metrics") && /\} 1\$'/.test(cmd),
      `${n}: helm test does not check tests.metricsUrl for pgbouncer_up 1`);
  }
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`chart checks: ok (${process.argv.slice(4).join(", ")})`);
