// Runs the real arbiterd the way the chart's Deployment does: the container's args and the
// rendered config.yaml, with only the ports and the mount paths moved to this machine, the TLS
// Secret laid out as kubelet lays out a mounted Secret (files -> ..data/ -> a timestamped
// directory, swapped atomically on update). Checks what only a running server can tell about
// the chart: the config is one the server accepts, the probes' health-only port answers
// plaintext while the gRPC and HTTP ports demand a client certificate, the identity map of the
// values admits a mapped certificate and refuses an unmapped one, Trino's allow call is decided
// and logged with the certificate's identity and the values' redaction, a Secret update (kubelet's
// symlink swap) is served without a restart, and the TLS-off rendering starts only thanks to
// the --allow-insecure the chart adds. Usage (run.sh does this when an arbiterd binary exists):
//   node serve.mjs --render .build/render --chart <staged chart> --work <dir> --arbiterd <binary>
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import assert from "node:assert/strict";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const RENDER = path.resolve(args.render);
const CHART = path.resolve(args.chart);
const WORK = path.resolve(args.work);
const ARBITERD = path.resolve(args.arbiterd);
const TLS_DIR = "/etc/arbiter/tls";
const SERVER_NAME = "arbiter.mesh.svc"; // one of the chart Certificate's default dnsNames
const TRINO_ID = "spiffe://mesh.example/ns/trino/sa/trino";

fs.rmSync(WORK, { recursive: true, force: true });
fs.mkdirSync(WORK, { recursive: true });

// An arbiterd from before issue 10 knows neither TLS nor --allow-insecure: nothing to run then.
const help = spawnSync(ARBITERD, ["--helpfull"], { encoding: "utf8" });
if (!/allow[-_]insecure/.test(`${help.stdout}${help.stderr}`)) {
  console.log(`# skipped: ${ARBITERD} has no --allow-insecure (no TLS yet)`);
  process.exit(0);
}

if (spawnSync("openssl", ["version"]).status !== 0) {
  console.log("not ok - openssl is missing: run scripts/install-deps.sh");
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// PKI: a CA, Arbiter's certificate (twice, for the rotation), Trino's and a stranger's.

const PKI = path.join(WORK, "pki");
fs.mkdirSync(PKI);
const openssl = (...a) => execFileSync("openssl", a, { cwd: PKI, stdio: ["ignore", "pipe", "pipe"] });
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
  "-out", "ca.crt", "-subj", "/CN=mesh test CA", "-days", "2");
function issue(name, san, usage) {
  fs.writeFileSync(path.join(PKI, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`,
    "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", `${name}.crt`, "-days", "1", "-extfile", `${name}.ext`);
  const serial = hex(openssl("x509", "-in", `${name}.crt`, "-noout", "-serial").toString().trim().split("=")[1]);
  return { cert: fs.readFileSync(path.join(PKI, `${name}.crt`)), key: fs.readFileSync(path.join(PKI, `${name}.key`)), serial };
}
/** A certificate serial as one spelling (openssl and node may differ in leading zeros). */
function hex(serial) {
  return serial ? serial.replace(/^0+/, "").toUpperCase() : serial;
}
const usages = "serverAuth,clientAuth";
const server1 = issue("server1", `DNS:${SERVER_NAME},DNS:localhost`, usages);
const server2 = issue("server2", `DNS:${SERVER_NAME},DNS:localhost`, usages);
const trino = issue("trino", `URI:${TRINO_ID}`, "clientAuth");
const stranger = issue("stranger", "URI:spiffe://elsewhere.example/ns/x/sa/y", "clientAuth");
const ca = fs.readFileSync(path.join(PKI, "ca.crt"));

// The Secret as kubelet mounts it: <dir>/tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/.
// An update writes a new timestamped directory and renames a new ..data link over the old one.
function writeSecret(dir, files, generation) {
  fs.mkdirSync(dir, { recursive: true });
  const ts = `..2026_01_01_00_00_0${generation}.000000000`;
  fs.mkdirSync(path.join(dir, ts));
  for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, ts, k), v, { mode: 0o440 });
  const old = fs.existsSync(path.join(dir, "..data")) ? fs.readlinkSync(path.join(dir, "..data")) : null;
  fs.symlinkSync(ts, path.join(dir, "..data_tmp"));
  fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
  for (const k of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, k))) fs.symlinkSync(path.join("..data", k), path.join(dir, k));
  }
  if (old) fs.rmSync(path.join(dir, old), { recursive: true });
}

// ---------------------------------------------------------------------------------------------
// The chart's Deployment and config, moved to this machine.

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function renderChart(name, values) {
  const valuesFile = path.join(WORK, `${name}.values.json`);
  fs.writeFileSync(valuesFile, JSON.stringify(values));
  const out = JSON.parse(execFileSync(RENDER, ["-chart", CHART, "-name", "arbiter", "-namespace", "mesh", "-f", valuesFile],
    { encoding: "utf8", maxBuffer: 64 << 20 }));
  const objects = out.manifests.map((m) => m.object);
  const dep = objects.find((o) => o.kind === "Deployment");
  const c = dep.spec.template.spec.containers.find((x) => x.name === "arbiter");
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-config"));
  const conf = JSON.parse(execFileSync(RENDER, ["-yaml-to-json"], { input: cm.data["config.yaml"], encoding: "utf8" }));
  return { c, conf };
}

/** Starts arbiterd with the container's args and config; resolves once /readyz says ready. */
async function start(name, { c, conf }, { secretDir, dropArgs = [] } = {}) {
  const ports = { grpc: await freePort(), http: await freePort(), health: await freePort() };
  const moved = JSON.parse(JSON.stringify(conf));
  if (moved.tls) {
    for (const k of ["cert_file", "key_file", "client_ca_file"]) {
      assert.ok(moved.tls[k].startsWith(`${TLS_DIR}/`), `tls.${k} is in the TLS mount`);
      moved.tls[k] = path.join(secretDir, moved.tls[k].slice(TLS_DIR.length + 1));
    }
  }
  assert.match(moved.http.health_listen, /^0\.0\.0\.0:\d+$/);
  moved.http.health_listen = `127.0.0.1:${ports.health}`;
  const configFile = path.join(WORK, `${name}.config.json`);
  fs.writeFileSync(configFile, JSON.stringify(moved, null, 2)); // JSON is YAML
  const argv = [];
  for (let i = 0; i < c.args.length; i++) {
    const a = c.args[i];
    if (dropArgs.includes(a)) continue;
    const next = c.args[i + 1];
    if (a === "--bundle") argv.push(a, path.join(CHART, "policies"));
    else if (a === "--config") argv.push(a, configFile);
    // The chart's host (every interface), this run's port.
    else if (a === "--listen") argv.push(a, next.replace(/:\d+$/, `:${ports.grpc}`));
    else if (a === "--http-listen") argv.push(a, next.replace(/:\d+$/, `:${ports.http}`));
    else {
      argv.push(a);
      continue;
    }
    i++;
  }
  const proc = spawn(ARBITERD, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = ""; // the decision log (decisionLog.destination=stdout)
  proc.stderr.on("data", (d) => (stderr += d));
  proc.stdout.on("data", (d) => (stdout += d));
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const server = { proc, ports, argv, exited, stderr: () => stderr, stdout: () => stdout };
  const deadline = Date.now() + 30000;
  for (;;) {
    const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (done) return { ...server, exit: done };
    const r = await get(`http://127.0.0.1:${ports.health}/readyz`).catch(() => null);
    if (r?.status === 200) return server;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`arbiterd not ready in 30 s: ${stderr}`);
    }
  }
}

async function stop(server) {
  server.proc.kill("SIGTERM");
  const { code, signal } = await server.exited;
  assert.equal(code, 0, `arbiterd exits 0 on SIGTERM (code ${code}, signal ${signal}): ${server.stderr()}`);
}

function get(url, opts = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const method = body === undefined ? "GET" : "POST";
    const headers = body === undefined ? {} : { "content-type": "application/json" };
    const req = mod.request(url, { ...opts, method, headers, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body, serial: hex(res.socket.getPeerCertificate?.().serialNumber) }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

const asClient = (id) => ({ ca, servername: SERVER_NAME, ...(id ? { cert: id.cert, key: id.key } : {}) });

/** The serial of the certificate the gRPC port presents (TLS with ALPN h2, as a gRPC client). */
function grpcPeerSerial(port, id) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], ...asClient(id) }, () => {
      const serial = hex(s.getPeerCertificate().serialNumber);
      const alpn = s.alpnProtocol;
      s.end();
      resolve({ serial, alpn });
    });
    s.setTimeout(5000, () => s.destroy(new Error("timeout")));
    s.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------

let passed = 0;
let failures = 0;
async function test(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
  }
}

await test("arbiterd serves the chart's TLS rendering: health port plaintext, both ports mTLS, identities as mapped", async () => {
  const secretDir = path.join(WORK, "secret");
  writeSecret(secretDir, { "tls.crt": server1.cert, "tls.key": server1.key, "ca.crt": ca }, 1);
  const rendered = renderChart("tls", {
    authz: { identities: [{ match: "spiffe://mesh.example/ns/trino/*", role: "engine" }] },
    decisionLog: { redact: ["principal.attributes.email", { path: "context.*", action: "digest" }] },
  });
  assert.ok(!rendered.c.args.includes("--allow-insecure"));
  const s = await start("tls", rendered, { secretDir });
  assert.equal(s.exit, undefined, `arbiterd exited: ${JSON.stringify(s.exit)} ${s.stderr()}`);
  try {
    const { http: hp, health, grpc } = s.ports;
    // The kubelet's view: plaintext, no certificate, /healthz and /readyz only.
    assert.equal((await get(`http://127.0.0.1:${health}/healthz`)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${health}/readyz`)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${health}/metrics`)).status, 404, "the health port serves nothing else");
    // The HTTP side port: TLS with the mounted certificate, a client certificate required.
    await assert.rejects(get(`https://127.0.0.1:${hp}/metrics`, asClient(null)), "no client certificate: refused");
    await assert.rejects(get(`http://127.0.0.1:${hp}/metrics`), "plaintext: refused");
    const ok = await get(`https://127.0.0.1:${hp}/metrics`, asClient(trino));
    assert.equal(ok.status, 200, `Trino's identity is mapped (engine): ${ok.body}`);
    assert.equal(ok.serial, server1.serial, "the HTTP port presents the mounted certificate");
    const denied = await get(`https://127.0.0.1:${hp}/metrics`, asClient(stranger));
    assert.equal(denied.status, 403, "an unmapped identity is refused");
    // What Trino's opa plugin sends: decided, logged with the certificate's identity (not the
    // header) and with the chart's decisionLog.redact applied.
    const input = { input: {
      context: { identity: { user: "alice", groups: [] }, softwareStack: { trinoVersion: "455" } },
      action: { operation: "ExecuteQuery" },
    } };
    const allow = await get(`https://127.0.0.1:${hp}/v1/data/trino/allow`,
      { ...asClient(trino), headers: { "x-arbiter-caller": "spoofed" } }, JSON.stringify(input));
    assert.equal(allow.status, 200, `Trino's allow endpoint over mTLS: ${allow.body}`);
    assert.match(allow.body, /"result":(true|false)/);
    const deadline0 = Date.now() + 10000;
    while (!s.stdout().includes("\n") && Date.now() < deadline0) await new Promise((r) => setTimeout(r, 50));
    const line = JSON.parse(s.stdout().split("\n")[0]);
    assert.equal(line.caller?.identity, TRINO_ID, "the decision log records the certificate's identity");
    assert.equal(line.caller?.role, "engine");
    for (const [k, v] of Object.entries(line.request?.context || {})) {
      assert.match(String(v), /^sha256:[0-9a-f]{64}$/, `context.${k} digested (decisionLog.redact)`);
    }
    assert.ok(Object.keys(line.request?.context || {}).length > 0, "the request had a context to digest");
    // The gRPC port: TLS (h2) with the same certificate.
    const g = await grpcPeerSerial(grpc, trino);
    assert.equal(g.serial, server1.serial, "the gRPC port presents the mounted certificate");
    assert.equal(g.alpn, "h2");

    // cert-manager renews: kubelet swaps ..data. Served without a restart, on both ports.
    writeSecret(secretDir, { "tls.crt": server2.cert, "tls.key": server2.key, "ca.crt": ca }, 2);
    const deadline = Date.now() + 20000;
    let httpSerial, grpcSerial;
    do {
      await new Promise((r) => setTimeout(r, 200));
      httpSerial = (await get(`https://127.0.0.1:${hp}/metrics`, asClient(trino)).catch(() => ({}))).serial;
      grpcSerial = (await grpcPeerSerial(grpc, trino).catch(() => ({}))).serial;
    } while ((httpSerial !== server2.serial || grpcSerial !== server2.serial) && Date.now() < deadline);
    assert.equal(httpSerial, server2.serial, "the HTTP port serves the renewed certificate");
    assert.equal(grpcSerial, server2.serial, "the gRPC port serves the renewed certificate");
    assert.equal(s.proc.exitCode, null, "without a restart");
  } finally {
    await stop(s);
  }
});

await test("arbiterd serves the chart's TLS-off rendering only with the chart's --allow-insecure", async () => {
  const rendered = renderChart("plain", { tls: { enabled: false } });
  assert.ok(rendered.c.args.includes("--allow-insecure"));
  const refused = await start("plain-refused", rendered, { dropArgs: ["--allow-insecure"] });
  if (!refused.exit) await stop(refused);
  assert.ok(refused.exit && refused.exit.code !== 0, "without --allow-insecure arbiterd refuses plaintext on 0.0.0.0");
  assert.match(refused.stderr(), /--allow-insecure/);
  const s = await start("plain", rendered);
  assert.equal(s.exit, undefined, `arbiterd exited: ${JSON.stringify(s.exit)} ${s.stderr()}`);
  try {
    assert.equal((await get(`http://127.0.0.1:${s.ports.health}/readyz`)).status, 200);
    const m = await get(`http://127.0.0.1:${s.ports.http}/metrics`);
    assert.equal(m.status, 200, `anonymous callers get the chart's default role (engine): ${m.body}`);
  } finally {
    await stop(s);
  }
});

console.log(`\n${passed} passed, ${failures} failed (arbiterd ${ARBITERD}, scratch in ${WORK})`);
process.exit(failures ? 1 : 0);
