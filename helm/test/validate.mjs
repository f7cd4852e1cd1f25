// Renders the Arbiter chart for the default values and each values switch (with the Go stand-in
// for `helm template` in render/), validates the coalesced values against values.schema.json
// (as helm install does) and every rendered object against the Kubernetes schemas
// (kubernetes-models), and asserts what matters. Usage (run.sh does this):
//   node validate.mjs --render .build/render --chart <staged chart dir> --work <scratch dir>
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const Ajv = require("ajv");
const k8s = {
  "v1/ConfigMap": require("kubernetes-models/v1/ConfigMap").ConfigMap,
  "v1/Service": require("kubernetes-models/v1/Service").Service,
  "v1/ServiceAccount": require("kubernetes-models/v1/ServiceAccount").ServiceAccount,
  "apps/v1/Deployment": require("kubernetes-models/apps/v1/Deployment").Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler":
    require("kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler").HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": require("kubernetes-models/policy/v1/PodDisruptionBudget").PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": require("kubernetes-models/networking.k8s.io/v1/NetworkPolicy").NetworkPolicy,
  "monitoring.coreos.com/v1/ServiceMonitor":
    require("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor").ServiceMonitor,
  "cert-manager.io/v1/Certificate": require("@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate").Certificate,
};

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const RENDER = path.resolve(args.render);
const CHART = path.resolve(args.chart);
const WORK = path.resolve(args.work);
fs.mkdirSync(WORK, { recursive: true });

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateValues = ajv.compile(JSON.parse(fs.readFileSync(path.join(CHART, "values.schema.json"), "utf8")));

// ---------------------------------------------------------------------------------------------
// Rendering and validation

class RenderError extends Error {}

function schemaMessage(errors) {
  const lines = errors
    .filter((e) => e.keyword !== "if")
    .map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "(root)";
      let msg = e.message;
      if (e.keyword === "additionalProperties") msg += `: ${e.params.additionalProperty}`;
      if (e.keyword === "enum") msg += `: ${e.params.allowedValues.join(", ")}`;
      return `- ${where}: ${msg}`;
    });
  return "values don't meet the specifications of the schema(s) in the following chart(s):\narbiter:\n" +
    [...new Set(lines)].join("\n");
}

/** Render like `helm template --namespace mesh arbiter <chart> -f <values>`; throws RenderError. */
function render(name, values = {}, chart = CHART) {
  const valuesFile = path.join(WORK, `${name}.values.json`);
  fs.writeFileSync(valuesFile, JSON.stringify(values, null, 2)); // JSON is YAML
  const run = (extra) => {
    try {
      return JSON.parse(execFileSync(
        RENDER,
        ["-chart", chart, "-name", "arbiter", "-namespace", "mesh", "-f", valuesFile, ...extra],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 },
      ));
    } catch (e) {
      throw new RenderError(String(e.stderr || e.message).trim());
    }
  };
  // As helm does: coalesce the values, check them against values.schema.json, then render.
  const coalesced = run(["-values-only"]);
  if (!validateValues(coalesced)) throw new RenderError(schemaMessage(validateValues.errors));
  const result = run(["-api-versions", "monitoring.coreos.com/v1", "-manifest-out", path.join(WORK, `${name}.yaml`)]);
  const objects = result.manifests.map((m) => m.object);
  for (const m of result.manifests) {
    const o = m.object;
    const Model = k8s[`${o.apiVersion}/${o.kind}`];
    if (!Model) throw new Error(`${m.source}: no schema known for ${o.apiVersion} ${o.kind}`);
    try {
      new Model(o).validate();
    } catch (e) {
      throw new Error(`${m.source}: ${o.kind} ${o.metadata?.name} is not a valid Kubernetes object: ${e.message}`);
    }
  }
  const seen = new Set();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.name}`;
    assert.ok(!seen.has(id), `${id} rendered twice`);
    seen.add(id);
    assert.equal(o.metadata.namespace, "mesh", `${id} has the release namespace`);
  }
  return { values: result.values, objects, notes: result.notes };
}

const find = (objs, kind, pred = () => true) => objs.filter((o) => o.kind === kind && pred(o));
const one = (objs, kind, pred) => {
  const found = find(objs, kind, pred);
  assert.equal(found.length, 1, `exactly one ${kind} expected, got ${found.length}`);
  return found[0];
};
const subset = (small, big) => Object.entries(small).every(([k, v]) => big?.[k] === v);
/** A YAML document as a value (through the renderer's YAML parser, the one Helm's values use). */
const parseYaml = (text) => JSON.parse(execFileSync(RENDER, ["-yaml-to-json"], { input: text, encoding: "utf8" }));
const TLS_DIR = "/etc/arbiter/tls";
const CLIENT_CA_DIR = "/etc/arbiter/client-ca";

/** Checks every rendering must pass. */
function invariants({ values, objects }) {
  const dep = one(objects, "Deployment");
  const pod = dep.spec.template.spec;
  const sel = dep.spec.selector.matchLabels;
  assert.ok(subset(sel, dep.spec.template.metadata.labels), "the selector matches the pod labels");
  const c = pod.containers.find((x) => x.name === "arbiter");
  assert.ok(c, "an arbiter container");
  const grpcPort = c.ports.find((p) => p.name === "grpc").containerPort;
  const httpPort = c.ports.find((p) => p.name === "http").containerPort;
  const healthPort = c.ports.find((p) => p.name === "health").containerPort;
  assert.equal(grpcPort, values.ports.grpc);
  assert.equal(httpPort, values.ports.http);
  assert.equal(healthPort, values.ports.health);
  const tls = values.tls.enabled;

  // Probes: httpGet on the plaintext health-only port (a probe cannot present a client
  // certificate), or, only without TLS and when asked, native gRPC probes on the gRPC port.
  const probePath = { startupProbe: "/healthz", livenessProbe: "/healthz", readinessProbe: "/readyz" };
  for (const probe of Object.keys(probePath)) {
    const p = c[probe];
    assert.ok(p, `${probe} set`);
    assert.ok(!p.exec && !p.tcpSocket, `${probe} is not exec/tcpSocket`);
    if (values.probes.type === "grpc") {
      assert.ok(!tls, "gRPC probes only without TLS");
      assert.equal(p.grpc?.port, grpcPort, `${probe} is a gRPC probe on the gRPC port`);
      assert.ok(!p.httpGet, `${probe} is only gRPC`);
    } else {
      assert.ok(!p.grpc, `${probe} is not a gRPC probe`);
      assert.equal(p.httpGet?.port, "health", `${probe} targets the health port`);
      assert.equal(p.httpGet.path, probePath[probe], `${probe} path`);
      assert.ok(!p.httpGet.scheme || p.httpGet.scheme === "HTTP", `${probe} is plaintext`);
    }
  }

  const a = c.args;
  const arg = (flag) => a[a.indexOf(flag) + 1];
  assert.equal(arg("--listen"), `0.0.0.0:${grpcPort}`);
  assert.equal(arg("--http-listen"), `0.0.0.0:${httpPort}`);
  assert.equal(arg("--config"), "/etc/arbiter/config.yaml");
  assert.ok(arg("--bundle").startsWith(values.bundle.mountPath), "--bundle is under the bundle mount");
  assert.equal(a.includes("--allow-insecure"), !tls, "--allow-insecure exactly when TLS is off");

  // Resources, non-root, read-only root filesystem, for every container.
  assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, "requests set");
  assert.ok(c.resources?.limits?.memory, "a memory limit set");
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0, "a non-root uid");
  for (const x of [...pod.containers, ...(pod.initContainers || [])]) {
    assert.equal(x.securityContext?.readOnlyRootFilesystem, true, `${x.name}: read-only root filesystem`);
    assert.equal(x.securityContext?.allowPrivilegeEscalation, false, `${x.name}: no privilege escalation`);
    assert.deepEqual(x.securityContext?.capabilities?.drop, ["ALL"], `${x.name}: drops all capabilities`);
    assert.ok(x.resources?.requests, `${x.name}: resource requests`);
    const vols = new Set(pod.volumes.map((v) => v.name));
    for (const m of x.volumeMounts || []) assert.ok(vols.has(m.name), `${x.name}: volume ${m.name} exists`);
  }
  assert.ok(c.volumeMounts.some((m) => m.mountPath === "/tmp"), "a writable /tmp");

  // The grace period outlasts preStop sleep + drain.
  const drain = values.config?.server?.drain_timeout_seconds ?? 20;
  const sleep = c.lifecycle?.preStop?.exec ? Number(c.lifecycle.preStop.exec.command[1]) : 0;
  assert.equal(sleep, values.preStopSleepSeconds);
  assert.ok(pod.terminationGracePeriodSeconds > sleep + drain,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${sleep} + drain ${drain}`);

  const ann = dep.spec.template.metadata.annotations;
  assert.match(ann["checksum/config"], /^[0-9a-f]{64}$/);
  assert.match(ann["checksum/bundle"], /^[0-9a-f]{64}$/);

  // The config file: a ConfigMap mounted at /etc/arbiter/config.yaml.
  const cfgVol = pod.volumes.find((v) => v.name === c.volumeMounts.find((m) => m.mountPath === "/etc/arbiter/config.yaml").name);
  const cfg = one(objects, "ConfigMap", (o) => o.metadata.name === cfgVol.configMap.name);
  assert.ok(cfg.data["config.yaml"].includes(`drain_timeout_seconds: ${drain}`), "config carries the drain timeout");
  const conf = parseYaml(cfg.data["config.yaml"]);
  assert.equal(conf.http.health_listen, `0.0.0.0:${healthPort}`, "the health-only listener is where the probes look");
  assert.equal(conf.http.listen, undefined, "the HTTP port comes from --http-listen only");

  // TLS: the Secret mounted read-only as a directory (never subPath: rotation must propagate),
  // the config's tls: section naming files in it; none of it without TLS.
  const tlsMounts = c.volumeMounts.filter((m) => m.mountPath === TLS_DIR);
  if (tls) {
    assert.equal(tlsMounts.length, 1, `one mount at ${TLS_DIR}`);
    const m = tlsMounts[0];
    assert.equal(m.readOnly, true, "the TLS mount is read-only");
    assert.ok(!m.subPath && !m.subPathExpr, "the TLS Secret is mounted as a directory, not with subPath");
    const vol = pod.volumes.find((v) => v.name === m.name);
    const secretName = values.tls.secretName || `${dep.metadata.name}-tls`;
    assert.equal(vol.secret?.secretName, secretName, "the TLS volume is the TLS Secret");
    assert.ok(!vol.secret.items, "every key of the Secret is mounted (no items filter)");
    assert.equal(vol.secret.defaultMode & 0o007, 0, "the private key is not world-readable");
    // The client CA: the Secret's ca.crt, or its own ConfigMap/Secret mounted as a directory.
    const ca = values.tls.clientCA;
    const caMount = c.volumeMounts.find((x) => x.mountPath === CLIENT_CA_DIR);
    let clientCaFile = `${TLS_DIR}/ca.crt`;
    if (ca.configMapName || ca.secretName) {
      assert.ok(caMount?.readOnly, "the client CA is mounted read-only");
      assert.ok(!caMount.subPath && !caMount.subPathExpr, "the client CA is mounted as a directory, not with subPath");
      const caVol = pod.volumes.find((v) => v.name === caMount.name);
      if (ca.configMapName) assert.equal(caVol.configMap?.name, ca.configMapName);
      else assert.equal(caVol.secret?.secretName, ca.secretName);
      clientCaFile = `${CLIENT_CA_DIR}/${ca.key}`;
    } else {
      assert.equal(caMount, undefined, "no client-CA mount unless asked");
    }
    assert.deepEqual(conf.tls, {
      cert_file: `${TLS_DIR}/tls.crt`,
      key_file: `${TLS_DIR}/tls.key`,
      client_ca_file: clientCaFile,
      client_auth: values.tls.clientAuth,
    });
  } else {
    assert.equal(tlsMounts.length, 0, "no TLS mount without TLS");
    assert.ok(!c.volumeMounts.some((x) => x.mountPath === CLIENT_CA_DIR), "no client-CA mount without TLS");
    assert.equal(conf.tls, undefined, "no tls: section without TLS");
  }
  assert.ok(conf.authz, "the config has an authz: section");
  assert.deepEqual(conf.authz.identities, values.authz.identities);
  assert.deepEqual(conf.authz.bundle_roots, values.authz.bundleRoots);
  assert.equal(conf.authz.anonymous_role, values.authz.anonymousRole || (tls ? "none" : "engine"));
  assert.deepEqual(conf.decision_log.redact, values.decisionLog.redact.length ? values.decisionLog.redact : undefined);

  // Every configMap volume of the chart's names a rendered ConfigMap and only keys that exist in
  // it (the client-CA ConfigMap is the user's, e.g. trust-manager's).
  for (const v of pod.volumes.filter((v) => v.configMap && v.name !== "client-ca")) {
    const cm = one(objects, "ConfigMap", (o) => o.metadata.name === v.configMap.name);
    for (const item of v.configMap.items || []) assert.ok(item.key in cm.data, `key ${item.key} in ${cm.metadata.name}`);
  }
  for (const cm of find(objects, "ConfigMap")) {
    for (const k of Object.keys(cm.data)) assert.match(k, /^[-._a-zA-Z0-9]+$/, `ConfigMap key ${k}`);
    const size = Object.values(cm.data).reduce((n, s) => n + Buffer.byteLength(s), 0);
    assert.ok(size < 1 << 20, `${cm.metadata.name} fits a ConfigMap`);
  }

  // The health port is in no Service and no NetworkPolicy rule: only the kubelet needs it.
  for (const np of find(objects, "NetworkPolicy")) {
    for (const rule of np.spec.ingress) {
      for (const p of rule.ports) assert.ok(["grpc", "http"].includes(p.port), `NetworkPolicy opens ${p.port}`);
    }
  }

  // Services select the pods and target the named container ports.
  for (const svc of find(objects, "Service")) {
    assert.deepEqual(svc.spec.selector, sel, `${svc.metadata.name} selects the pods`);
    for (const p of svc.spec.ports) assert.ok(["grpc", "http"].includes(p.targetPort), `${svc.metadata.name} targets named ports`);
  }
  for (const svc of find(objects, "Service")) {
    assert.equal(svc.spec.ports.find((p) => p.name === "http").appProtocol, tls ? "https" : "http", `${svc.metadata.name}: the HTTP port's protocol`);
  }
  const main = one(objects, "Service", (s) => s.spec.clusterIP !== "None");
  assert.deepEqual(main.spec.ports.map((p) => p.port), [values.service.grpcPort, values.service.httpPort]);
  if (values.service.headless) {
    const h = one(objects, "Service", (s) => s.spec.clusterIP === "None");
    assert.equal(h.spec.ports.find((p) => p.name === "grpc").port, grpcPort);
  }

  // Scale: the HPA owns replicas when on.
  const hpa = find(objects, "HorizontalPodAutoscaler");
  if (values.autoscaling.enabled) {
    assert.equal(hpa.length, 1);
    assert.equal(hpa[0].spec.scaleTargetRef.name, dep.metadata.name);
    assert.equal(dep.spec.replicas, undefined, "no replicas field fighting the HPA");
  } else {
    assert.equal(hpa.length, 0);
    assert.equal(dep.spec.replicas, values.replicaCount);
  }
  for (const pdb of find(objects, "PodDisruptionBudget")) assert.deepEqual(pdb.spec.selector.matchLabels, sel);

  const sa = find(objects, "ServiceAccount");
  if (values.serviceAccount.create) assert.equal(sa[0]?.metadata.name, pod.serviceAccountName);
  assert.equal(pod.automountServiceAccountToken, false);
  return { dep, pod, c, cfg, conf, arg };
}

// ---------------------------------------------------------------------------------------------
// The tests

let failures = 0;
let passed = 0;
function test(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
  }
}

function expectRejected(name, values, pattern, chart) {
  test(`rejects ${name}`, () => {
    let err;
    try {
      render(`bad-${name.replace(/\W+/g, "-")}`, values, chart);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RenderError, `expected a rejection, got ${err ? err.message : "a rendering"}`);
    assert.match(err.message, pattern);
    console.log(`  # ${err.message.split("\n").filter((l) => !/^(values don't|arbiter:$)/.test(l)).join(" | ")}`);
  });
}

function bundleTree(dir, prefix = "") {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.name.startsWith(".") ? [] :
      e.isDirectory() ? bundleTree(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
}

let defaults;
test("default values: renders, validates, mTLS on, probes on the health port, bundle tree from policies/", () => {
  defaults = render("default");
  const { pod, c, cfg, conf } = invariants(defaults);
  assert.equal(conf.tls.client_auth, "require", "client certificates required by default");
  assert.equal(conf.authz.anonymous_role, "none", "no anonymous callers with TLS on");
  assert.equal(pod.volumes.find((v) => v.name === "tls").secret.secretName, "arbiter-tls");
  assert.equal(c.ports.find((p) => p.name === "health").containerPort, 8081);
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  const kinds = defaults.objects.map((o) => o.kind).sort();
  assert.deepEqual(kinds, ["ConfigMap", "ConfigMap", "Deployment", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "Service", "Service", "ServiceAccount"]);
  const vol = pod.volumes.find((v) => v.name === "bundle");
  const items = vol.configMap.items.map((i) => i.path).sort();
  assert.deepEqual(items, bundleTree(path.join(CHART, "policies")).sort(), "the volume restores the bundle tree");
  assert.ok(items.includes("bundle.yaml"));
  for (const i of vol.configMap.items) assert.equal(i.key, i.path.replaceAll("/", "__"));
  const bundleCm = one(defaults.objects, "ConfigMap", (o) => o.metadata.name === vol.configMap.name);
  assert.equal(bundleCm.data["bundle.yaml"], fs.readFileSync(path.join(CHART, "policies/bundle.yaml"), "utf8"));
  assert.match(cfg.data["config.yaml"], /^ {2}path: ('-'|"-")$/m, "decision log to stdout");
  assert.ok(!pod.containers.some((x) => x.name === "git-sync"));
  assert.match(defaults.notes, /opa\.policy\.uri=https:\/\/arbiter\.mesh\.svc:8181\/v1\/data\/trino\/allow/);
  assert.match(defaults.notes, /WARNING: authz\.identities is empty/);
  assert.match(defaults.notes, /Callers without a certificate: refused/);
  assert.match(defaults.notes, /Probes: plaintext \/healthz and \/readyz on port 8081/);
  assert.match(defaults.notes, /Create that Secret yourself/);
  assert.doesNotMatch(defaults.notes, /PLAINTEXT/);
});

test("bundle.source=gitSync: init clone + sidecar into a shared emptyDir, NetworkPolicy lets git out", () => {
  const r = render("gitsync", {
    bundle: { source: "gitSync", gitSync: { repo: "https://git.example.com/governance/policies.git", credentialsSecret: "git-creds" } },
    networkPolicy: { enabled: true },
  });
  const { pod, arg } = invariants(r);
  assert.equal(find(r.objects, "ConfigMap").length, 1, "no bundle ConfigMap");
  assert.ok(pod.volumes.find((v) => v.name === "bundle").emptyDir);
  const init = pod.initContainers.find((x) => x.name === "git-sync-init");
  const side = pod.containers.find((x) => x.name === "git-sync");
  assert.ok(init.args.includes("--one-time") && !side.args.includes("--one-time"));
  for (const x of [init, side]) {
    assert.ok(x.args.includes("--repo=https://git.example.com/governance/policies.git"));
    assert.ok(x.args.includes("--root=/etc/arbiter/bundle") && x.args.includes("--link=current"));
    assert.ok(x.volumeMounts.some((m) => m.name === "bundle" && !m.readOnly));
  }
  assert.equal(arg("--bundle"), "/etc/arbiter/bundle/current/policies");
  assert.equal(pod.volumes.find((v) => v.name === "git-credentials").secret.defaultMode, 0o440, "credentials readable by the pod's group");
  const np = one(r.objects, "NetworkPolicy");
  assert.ok(np.spec.egress.some((e) => e.ports.some((p) => p.port === 443)), "git egress");
});

test("decisionLog.destination=volume (emptyDir): a per-pod directory and the file path in the config", () => {
  const r = render("log-volume", { decisionLog: { destination: "volume" } });
  const { pod, c, cfg } = invariants(r);
  assert.match(cfg.data["config.yaml"], /^ {2}path: \/var\/log\/arbiter\/decisions\.jsonl$/m);
  const m = c.volumeMounts.find((x) => x.name === "decision-log");
  assert.equal(m.mountPath, "/var/log/arbiter");
  assert.equal(m.subPathExpr, "$(POD_NAME)");
  assert.ok(c.env.some((e) => e.name === "POD_NAME" && e.valueFrom.fieldRef.fieldPath === "metadata.name"));
  assert.ok(pod.volumes.find((v) => v.name === "decision-log").emptyDir);
});

test("decisionLog.destination=volume with existingClaim: a PersistentVolumeClaim", () => {
  const r = render("log-pvc", { decisionLog: { destination: "volume", volume: { existingClaim: "decisions" } } });
  const { pod } = invariants(r);
  assert.equal(pod.volumes.find((v) => v.name === "decision-log").persistentVolumeClaim.claimName, "decisions");
});

test("decisionLog.destination=off: an empty path, no volume", () => {
  const r = render("log-off", { decisionLog: { destination: "off" } });
  const { pod, cfg } = invariants(r);
  assert.match(cfg.data["config.yaml"], /^ {2}path: ("|'){2}$/m);
  assert.ok(!pod.volumes.some((v) => v.name === "decision-log"));
});

test("every other switch on: fixed replicas, ServiceMonitor over mTLS, NetworkPolicy, own TLS Secret, identities, redaction, minAvailable, bundle.files", () => {
  const r = render("all-on", {
    fullnameOverride: "pdp",
    autoscaling: { enabled: false },
    replicaCount: 3,
    metrics: { podAnnotations: true, serviceMonitor: { enabled: true, labels: { release: "prometheus" } } },
    networkPolicy: { enabled: true, ingressFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "trino" } } }] },
    tls: { enabled: true, secretName: "pdp-server-tls", clientAuth: "request" },
    authz: {
      identities: [
        { match: "spiffe://mesh.example/ns/governance/*", role: "governance" },
        { match: "spiffe://mesh.example/ns/sales/*", role: "domain:sales" },
        { match: "spiffe://mesh.example/ns/trino/*", role: "engine" },
      ],
      anonymousRole: "engine",
      bundleRoots: ["/srv/candidates"],
    },
    decisionLog: { redact: ["principal.attributes.email", { path: "context.*", action: "digest" }] },
    podDisruptionBudget: { minAvailable: 2, maxUnavailable: null },
    bundle: { files: { "domains/marketing/extra.lua": "return { id = \"marketing.extra\", kinds = {\"access\"}, check = function() end }\n" } },
    terminationGracePeriodSeconds: 60,
    preStopSleepSeconds: 0,
    config: { server: { drain_timeout_seconds: 45 }, trino: { group_roles: { "sales-analysts": "sales-analyst" } } },
    service: { headless: false },
  });
  const { dep, pod, c, cfg, conf } = invariants(r);
  assert.equal(dep.metadata.name, "pdp");
  assert.deepEqual(conf.authz, {
    identities: [
      { match: "spiffe://mesh.example/ns/governance/*", role: "governance" },
      { match: "spiffe://mesh.example/ns/sales/*", role: "domain:sales" },
      { match: "spiffe://mesh.example/ns/trino/*", role: "engine" },
    ],
    anonymous_role: "engine",
    bundle_roots: ["/srv/candidates"],
  });
  assert.deepEqual(conf.decision_log.redact, ["principal.attributes.email", { path: "context.*", action: "digest" }]);
  assert.equal(conf.tls.client_auth, "request");
  assert.doesNotMatch(r.notes, /identities is empty/);
  assert.equal(pod.terminationGracePeriodSeconds, 60);
  assert.equal(c.lifecycle, undefined, "no preStop hook at 0 s");
  const sm = one(r.objects, "ServiceMonitor");
  const ep = sm.spec.endpoints[0];
  assert.equal(ep.port, "http");
  assert.equal(ep.path, "/metrics");
  assert.equal(ep.scheme, "https", "the metrics port speaks TLS");
  assert.deepEqual(ep.tlsConfig, {
    ca: { secret: { name: "pdp-server-tls", key: "ca.crt" } },
    cert: { secret: { name: "pdp-server-tls", key: "tls.crt" } },
    keySecret: { name: "pdp-server-tls", key: "tls.key" },
    serverName: "pdp.mesh.svc",
  });
  assert.equal(sm.metadata.labels.release, "prometheus");
  assert.equal(dep.spec.template.metadata.annotations["prometheus.io/port"], "8181");
  assert.equal(dep.spec.template.metadata.annotations["prometheus.io/scheme"], "https");
  assert.equal(find(r.objects, "Certificate").length, 0, "no Certificate unless asked");
  const np = one(r.objects, "NetworkPolicy");
  assert.deepEqual(np.spec.ingress[0].ports.map((p) => p.port), ["grpc", "http"]);
  assert.equal(np.spec.egress.length, 1, "DNS only without git-sync");
  assert.ok(pod.volumes.some((v) => v.secret?.secretName === "pdp-server-tls"));
  assert.equal(one(r.objects, "PodDisruptionBudget").spec.minAvailable, 2);
  const items = pod.volumes.find((v) => v.name === "bundle").configMap.items;
  assert.ok(items.some((i) => i.key === "domains__marketing__extra.lua" && i.path === "domains/marketing/extra.lua"));
  assert.equal(find(r.objects, "Service").length, 1, "no headless Service");
  assert.match(cfg.data["config.yaml"], /sales-analysts: sales-analyst/);
});

test("tls.enabled=false: --allow-insecure, no TLS mount or tls: section, anonymous callers are engine, NOTES warn", () => {
  const r = render("tls-off", {
    tls: { enabled: false, certManager: { enabled: true, issuerRef: { name: "mesh-ca" } } },
    metrics: { podAnnotations: true, serviceMonitor: { enabled: true } },
  });
  const { dep, c, conf } = invariants(r);
  assert.ok(c.args.includes("--allow-insecure"));
  assert.equal(conf.authz.anonymous_role, "engine");
  assert.equal(conf.http.health_listen, "0.0.0.0:8081");
  assert.equal(c.readinessProbe.httpGet.port, "health", "still the health port by default");
  assert.equal(find(r.objects, "Certificate").length, 0, "no Certificate without TLS");
  const ep = one(r.objects, "ServiceMonitor").spec.endpoints[0];
  assert.equal(ep.scheme, "http");
  assert.equal(ep.tlsConfig, undefined);
  assert.equal(dep.spec.template.metadata.annotations["prometheus.io/scheme"], "http");
  assert.match(r.notes, /WARNING: tls\.enabled=false\. Arbiter serves PLAINTEXT/);
  assert.match(r.notes, /opa\.policy\.uri=http:\/\/arbiter\.mesh\.svc:8181\//);
});

test("probes.type=grpc without TLS: Kubernetes' native gRPC probes on the gRPC port", () => {
  const r = render("grpc-probes", { tls: { enabled: false }, probes: { type: "grpc", grpcService: "arbiter.v1.DecisionService" } });
  const { c } = invariants(r);
  for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
    assert.deepEqual(p.grpc, { port: 50051, service: "arbiter.v1.DecisionService" });
  }
  assert.equal(c.livenessProbe.periodSeconds, 10);
  assert.match(r.notes, /Probes: gRPC health on port 50051/);
});

test("tls.certManager.enabled: a Certificate for the Services' names into the mounted Secret", () => {
  const r = render("cert-manager", {
    tls: {
      certManager: {
        enabled: true,
        issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" },
        uris: ["spiffe://mesh.example/ns/mesh/sa/arbiter"],
      },
    },
  });
  const { pod } = invariants(r);
  const cert = one(r.objects, "Certificate");
  assert.equal(cert.spec.secretName, "arbiter-tls");
  assert.equal(pod.volumes.find((v) => v.name === "tls").secret.secretName, cert.spec.secretName, "the pods mount what cert-manager writes");
  assert.deepEqual(cert.spec.issuerRef, { name: "mesh-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
  for (const name of ["arbiter", "arbiter.mesh", "arbiter.mesh.svc", "arbiter.mesh.svc.cluster.local",
    "arbiter-headless.mesh.svc", "arbiter-headless.mesh.svc.cluster.local"]) {
    assert.ok(cert.spec.dnsNames.includes(name), `dnsNames has ${name}`);
  }
  assert.deepEqual(cert.spec.uris, ["spiffe://mesh.example/ns/mesh/sa/arbiter"]);
  assert.equal(cert.spec.duration, "2160h");
  assert.equal(cert.spec.renewBefore, "360h");
  assert.equal(cert.spec.privateKey.rotationPolicy, "Always");
  assert.equal(cert.spec.privateKey.encoding, "PKCS8");
  assert.ok(cert.spec.usages.includes("server auth") && cert.spec.usages.includes("client auth"));
  assert.doesNotMatch(r.notes, /Create that Secret yourself/);

  const own = one(render("cert-manager-names", {
    service: { headless: false },
    tls: { secretName: "custom", certManager: { enabled: true, issuerRef: { name: "x" }, dnsNames: ["arbiter.example.com"] } },
  }).objects, "Certificate");
  assert.deepEqual(own.spec.dnsNames, ["arbiter.example.com"]);
  assert.equal(own.spec.secretName, "custom");
  assert.equal(own.spec.uris, undefined);
});

test("tls.clientCA: client certificates verified by a CA bundle from its own ConfigMap or Secret", () => {
  const cm = render("client-ca-configmap", { tls: { clientCA: { configMapName: "mesh-trust-bundle", key: "trust-bundle.pem" } } });
  const { conf } = invariants(cm);
  assert.equal(conf.tls.client_ca_file, "/etc/arbiter/client-ca/trust-bundle.pem");
  assert.equal(conf.tls.cert_file, "/etc/arbiter/tls/tls.crt", "the server certificate still comes from the TLS Secret");
  const sec = render("client-ca-secret", { tls: { clientCA: { secretName: "spire-bundle" } } });
  assert.equal(invariants(sec).conf.tls.client_ca_file, "/etc/arbiter/client-ca/ca.crt");
  invariants(render("client-ca-tls-off", { tls: { enabled: false, clientCA: { secretName: "spire-bundle" } } }));
});

test("the README's identities.yaml renders into the config it describes", () => {
  const readme = fs.readFileSync(path.join(CHART, "README.md"), "utf8");
  const block = readme.match(/```yaml\n(# identities\.yaml\n[\s\S]*?)```/);
  assert.ok(block, "README.md has a ```yaml block starting with # identities.yaml");
  const values = parseYaml(block[1]);
  const { conf } = invariants(render("readme-identities", values));
  assert.ok(conf.authz.identities.some((i) => i.role === "governance"), "a governance identity");
  assert.deepEqual(conf.authz.identities, values.authz.identities);
  assert.deepEqual(conf.decision_log.redact, values.decisionLog.redact);
});

test("a single fixed replica gets no PodDisruptionBudget (it would block node drains)", () => {
  const r = render("single", { autoscaling: { enabled: false }, replicaCount: 1 });
  invariants(r);
  assert.equal(find(r.objects, "PodDisruptionBudget").length, 0);
});

test("checksum/bundle follows the bundle, checksum/config follows the config", () => {
  const ann = (r) => one(r.objects, "Deployment").spec.template.metadata.annotations;
  const base = ann(defaults);
  assert.deepEqual(ann(render("default-again")), base, "rendering is deterministic");

  const changed = path.join(WORK, "chart-bundle-changed");
  fs.rmSync(changed, { recursive: true, force: true });
  fs.cpSync(CHART, changed, { recursive: true });
  fs.appendFileSync(path.join(changed, "policies/bundle.yaml"), "# changed\n");
  const a = ann(render("bundle-changed", {}, changed));
  assert.notEqual(a["checksum/bundle"], base["checksum/bundle"], "a changed bundle file rolls the pods");
  assert.equal(a["checksum/config"], base["checksum/config"]);

  const b = ann(render("bundle-files", { bundle: { files: { "global/extra.lua": "return {}\n" } } }));
  assert.notEqual(b["checksum/bundle"], base["checksum/bundle"], "bundle.files is part of the bundle");

  const e = ann(render("identities-changed", { authz: { identities: [{ match: "x", role: "engine" }] } }));
  assert.notEqual(e["checksum/config"], base["checksum/config"], "the identity map is config too");
  assert.equal(e["checksum/bundle"], base["checksum/bundle"]);

  const c = ann(render("config-changed", { config: { server: { max_batch_size: 500 } } }));
  assert.notEqual(c["checksum/config"], base["checksum/config"], "a changed config rolls the pods");
  assert.equal(c["checksum/bundle"], base["checksum/bundle"]);

  const d = ann(render("log-changed", { decisionLog: { destination: "off" } }));
  assert.notEqual(d["checksum/config"], base["checksum/config"], "the decision-log path is config too");

  const g1 = ann(render("git-a", { bundle: { source: "gitSync", gitSync: { repo: "https://x/a.git" } } }));
  const g2 = ann(render("git-b", { bundle: { source: "gitSync", gitSync: { repo: "https://x/a.git", ref: "v2" } } }));
  assert.notEqual(g1["checksum/bundle"], g2["checksum/bundle"], "a changed git-sync source rolls the pods");
});

// The schema rejects bad values with a message naming the value.
expectRejected("a string replicaCount", { replicaCount: "three" }, /- replicaCount: must be integer/);
expectRejected("an unknown pullPolicy", { image: { pullPolicy: "Sometimes" } }, /- image\.pullPolicy: must be equal to one of the allowed values: Always, IfNotPresent, Never/);
expectRejected("an unknown bundle source", { bundle: { source: "svn" } }, /- bundle\.source: must be equal to one of the allowed values: configMap, gitSync/);
expectRejected("gitSync without a repo", { bundle: { source: "gitSync" } }, /- bundle\.gitSync\.repo: must NOT have fewer than 1 characters/);
expectRejected("an unknown overflow policy", { config: { decision_log: { overflow: "lose" } } }, /- config\.decision_log\.overflow: must be equal to one of the allowed values: drop, block/);
expectRejected("a drain timeout given as a duration", { config: { server: { drain_timeout_seconds: "20s" } } }, /- config\.server\.drain_timeout_seconds: must be integer/);
expectRejected("decision_log.path set by hand", { config: { decision_log: { path: "/x" } } }, /- config\.decision_log: must NOT have additional properties: path/);
expectRejected("a misspelt top-level key", { replicas: 3 }, /- \(root\): must NOT have additional properties: replicas/);
expectRejected("a port out of range", { ports: { grpc: 70000 } }, /- ports\.grpc: must be <= 65535/);
expectRejected("both PDB bounds", { podDisruptionBudget: { minAvailable: 1, maxUnavailable: 1 } }, /- podDisruptionBudget: must match exactly one schema in oneOf/);
expectRejected("a bundle.files path with a space", { bundle: { files: { "domains/sales/my grant.lua": "" } } }, /- bundle\.files: property name must be valid/);
expectRejected("an unknown client_auth", { tls: { clientAuth: "optional" } }, /- tls\.clientAuth: must be equal to one of the allowed values: require, request, none/);
expectRejected("a client CA from both a ConfigMap and a Secret", { tls: { clientCA: { configMapName: "a", secretName: "b" } } }, /- tls\.clientCA: must NOT be valid/);
expectRejected("cert-manager without an issuer", { tls: { certManager: { enabled: true } } }, /- tls\.certManager\.issuerRef\.name: must NOT have fewer than 1 characters/);
expectRejected("a role that does not exist", { authz: { identities: [{ match: "spiffe://x/*", role: "admin" }] } }, /- authz\.identities\.0\.role: must match pattern/);
expectRejected("a domain role the server would refuse", { authz: { identities: [{ match: "x", role: "domain:Sales" }] } }, /- authz\.identities\.0\.role: must match pattern/);
expectRejected("an identity without a match", { authz: { identities: [{ role: "engine" }] } }, /- authz\.identities\.0: must have required property 'match'/);
expectRejected("a relative bundle root", { authz: { bundleRoots: ["candidates"] } }, /- authz\.bundleRoots\.0: must match pattern "\^\/"/);
expectRejected("an unknown redaction action", { decisionLog: { redact: [{ path: "context.*", action: "hash" }] } }, /- decisionLog\.redact\.0\.action: must be equal to one of the allowed values: drop, digest/);
expectRejected("tls set inside config", { config: { tls: { cert_file: "/x" } } }, /- config: must NOT have additional properties: tls/);
expectRejected("http.listen set by hand", { config: { http: { listen: "0.0.0.0:9" } } }, /- config\.http: must NOT have additional properties: listen/);
expectRejected("a per-client connection limit below 0", { config: { http: { per_client_connection_limit: -1 } } }, /- config\.http\.per_client_connection_limit: must be >= 0/);
expectRejected("http.health_listen set by hand", { config: { http: { health_listen: "0.0.0.0:9" } } }, /- config\.http: must NOT have additional properties: health_listen/);
expectRejected("a decision-log mode that does not exist", { decisionLog: { destination: "syslog" } }, /- decisionLog\.destination: must be equal to one of the allowed values: stdout, volume, off/);

// What only the templates can check.
expectRejected("a grace period shorter than the drain", { terminationGracePeriodSeconds: 10 }, /terminationGracePeriodSeconds \(10\) must be larger than preStopSleepSeconds \+ config\.server\.drain_timeout_seconds \(25\)/);
expectRejected("gRPC probes with TLS", { probes: { type: "grpc" } }, /probes\.type=grpc needs tls\.enabled=false: a Kubernetes gRPC probe cannot present a client certificate/);
expectRejected("minReplicas above maxReplicas", { autoscaling: { minReplicas: 5, maxReplicas: 3 } }, /minReplicas must not be larger than autoscaling\.maxReplicas/);
{
  const empty = path.join(WORK, "chart-no-bundle");
  fs.rmSync(empty, { recursive: true, force: true });
  fs.cpSync(CHART, empty, { recursive: true });
  fs.rmSync(path.join(empty, "policies"), { recursive: true });
  expectRejected("a chart without a bundle", {}, /the bundle has no bundle\.yaml: copy the repository's policies\/ into the chart/, empty);
  const spaced = path.join(WORK, "chart-bad-name");
  fs.rmSync(spaced, { recursive: true, force: true });
  fs.cpSync(CHART, spaced, { recursive: true });
  fs.writeFileSync(path.join(spaced, "policies/global/bad name.lua"), "return {}\n");
  expectRejected("a bundle file name a ConfigMap key cannot hold", {}, /bundle file "global\/bad name\.lua" cannot be a ConfigMap key/, spaced);
}

console.log(`\n${passed} passed, ${failures} failed (rendered manifests in ${WORK})`);
process.exit(failures ? 1 : 0);
