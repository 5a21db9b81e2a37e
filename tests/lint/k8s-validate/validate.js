#!/usr/bin/env node
// Validates the Helm chart's output (tests/lint/helm_chart.sh).
//
//   validate.js objects MANIFESTS.yaml   every object against the Kubernetes / prometheus-operator
//                                        schemas (kubernetes-models), plus the chart's own rules:
//                                        non-root, read-only root FS, drop ALL, probes on
//                                        /healthz and /readyz, a config checksum
//   validate.js values SCHEMA.json VALUES.json...   values against values.schema.json (ajv)
//
// Exit 1 with every problem listed, each naming the object (kind/name) or values file.
"use strict";
const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");

function modelFor(apiVersion, kind) {
  let mod;
  if (apiVersion === "monitoring.coreos.com/v1") {
    mod = `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  } else if (apiVersion.includes("/")) {
    mod = `kubernetes-models/${apiVersion}/${kind}`;
  } else {
    mod = `kubernetes-models/${apiVersion}/${kind}`;
  }
  try {
    return require(mod)[kind];
  } catch (e) {
    return null;
  }
}

function podSpecOf(obj) {
  if (obj.kind === "Pod") return obj.spec;
  if (["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(obj.kind)) {
    return obj.spec && obj.spec.template && obj.spec.template.spec;
  }
  return null;
}

function checkPolicy(obj, where, problems) {
  const spec = podSpecOf(obj);
  if (!spec) return;
  const podSc = spec.securityContext || {};
  const all = [...(spec.initContainers || []), ...(spec.containers || [])];
  for (const c of all) {
    const sc = c.securityContext || {};
    const cw = `${where} container ${c.name}`;
    if (!(sc.runAsNonRoot === true || (podSc.runAsNonRoot === true && sc.runAsNonRoot !== false))) {
      problems.push(`${cw}: not runAsNonRoot`);
    }
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${cw}: root filesystem not read-only`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${cw}: allowPrivilegeEscalation`);
    const drop = (sc.capabilities && sc.capabilities.drop) || [];
    if (!drop.includes("ALL")) problems.push(`${cw}: capabilities do not drop ALL`);
  }
  if (obj.kind === "Pod") return; // the helm test pod: no probes needed
  if (!podSc.seccompProfile || podSc.seccompProfile.type !== "RuntimeDefault") {
    problems.push(`${where}: pod seccompProfile is not RuntimeDefault`);
  }
  const pw = all.find((c) => c.name === "poolwatch");
  if (!pw) {
    problems.push(`${where}: no poolwatch container`);
    return;
  }
  // The sidecar carries its own uid and seccomp profile: injected into another chart's pod, the
  // pod-level ones are not ours to rely on.
  const pwSc = pw.securityContext || {};
  if (!(pwSc.runAsUser > 0)) problems.push(`${where}: poolwatch container sets no runAsUser of its own`);
  if (!pwSc.seccompProfile || pwSc.seccompProfile.type !== "RuntimeDefault") {
    problems.push(`${where}: poolwatch container has no seccompProfile RuntimeDefault of its own`);
  }
  // Secret files it reads must be readable by its uid without an fsGroup (Secret files are
  // root-owned): mode o+r unless the pod sets an fsGroup.
  if (podSc.fsGroup == null) {
    const mounted = new Set((pw.volumeMounts || []).map((m) => m.name));
    for (const vol of spec.volumes || []) {
      if (!vol.secret || !mounted.has(vol.name)) continue;
      const mode = vol.secret.defaultMode == null ? 0o644 : vol.secret.defaultMode;
      if (!(mode & 0o004)) {
        problems.push(`${where}: secret volume ${vol.name} (mode ${mode.toString(8)}) unreadable by poolwatch's uid without an fsGroup`);
      }
    }
  }
  const probePath = (p) => p && p.httpGet && p.httpGet.path;
  // The metrics port: the one --web.listen-address names (its name is the chart's portName).
  const listenArg = (pw.args || []).find((a) => a.startsWith("--web.listen-address="));
  const metricsPort = (pw.ports || []).find((p) => listenArg && listenArg.endsWith(`:${p.containerPort}`));
  const portName = metricsPort ? metricsPort.name : "";
  if (portName === "http") {
    problems.push(`${where}: poolwatch's port is named "http", the application's port name (a PodMonitor would scrape both)`);
  }
  // /healthz and /readyz answer without credentials under basic auth: httpGet probes on them,
  // always (a tcpSocket probe cannot see a stalled sampler); HTTPS when the web config has TLS.
  if (probePath(pw.livenessProbe) !== "/healthz") {
    problems.push(`${where}: liveness is not an httpGet probe on /healthz`);
  }
  if (probePath(pw.readinessProbe) !== "/readyz") {
    problems.push(`${where}: readiness is not an httpGet probe on /readyz`);
  }
  if (!metricsPort) {
    problems.push(`${where}: no container port for --web.listen-address`);
  }
  for (const probe of [pw.livenessProbe, pw.readinessProbe]) {
    const named = probe && ((probe.httpGet && probe.httpGet.port) || (probe.tcpSocket && probe.tcpSocket.port));
    if (typeof named === "string" && named !== portName) {
      problems.push(`${where}: a probe names port "${named}", the container's is "${portName}"`);
    }
  }
  const ann = (obj.spec.template.metadata || {}).annotations || {};
  if (!/^[0-9a-f]{64}$/.test(ann["checksum/config"] || "")) {
    problems.push(`${where}: no checksum/config annotation`);
  }
  const native = (spec.initContainers || []).some((c) => c.name === "poolwatch");
  if (native && pw.restartPolicy !== "Always") {
    problems.push(`${where}: poolwatch init container without restartPolicy: Always`);
  }
  if (!native) {
    const pre = pw.lifecycle && pw.lifecycle.preStop;
    if (!pre) problems.push(`${where}: poolwatch has no preStop wait`);
    const grace = spec.terminationGracePeriodSeconds;
    const cmd = (pre && pre.exec && pre.exec.command) || [];
    const sleep = Number(cmd[cmd.length - 1]);
    if (!(grace > sleep)) {
      problems.push(`${where}: terminationGracePeriodSeconds ${grace} <= preStop wait ${sleep}`);
    }
  }
}

function objects(file) {
  const problems = [];
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null);
  const seen = new Set();
  for (const obj of docs) {
    const where = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
    if (!obj.apiVersion || !obj.kind) {
      problems.push(`${where}: no apiVersion/kind`);
      continue;
    }
    const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
    if (seen.has(key)) problems.push(`${where}: rendered twice`);
    seen.add(key);
    const Model = modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      problems.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
    }
    checkPolicy(obj, where, problems);
  }
  return { problems, count: docs.length, kinds: docs.map((d) => d.kind) };
}

function values(schemaFile, files) {
  const Ajv = require("ajv");
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
  const problems = [];
  for (const f of files) {
    const v = JSON.parse(fs.readFileSync(f, "utf8"));
    if (!validate(v)) {
      for (const e of validate.errors) {
        if (e.keyword === "if") continue; // the branch's own errors say what is wrong
        const extra = e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : "";
        problems.push(`${path.basename(f)}: ${e.instancePath || "/"} ${e.message}${extra}`);
      }
    }
  }
  return problems;
}

function main(argv) {
  const [cmd, ...rest] = argv;
  let problems;
  if (cmd === "objects") {
    const r = objects(rest[0]);
    problems = r.problems;
    if (!problems.length) console.log(`${r.count} objects valid: ${r.kinds.join(", ")}`);
  } else if (cmd === "values") {
    problems = values(rest[0], rest.slice(1));
    if (!problems.length) console.log(`${rest.length - 1} values file(s) valid`);
  } else {
    console.error("usage: validate.js objects FILE | values SCHEMA FILE...");
    return 2;
  }
  for (const p of problems) console.error(p);
  return problems.length ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
