// meshca benchmarks: each scenario bounded in time, peers measured in the same run, results in bench/results.json.
// Run with `make bench` (it builds meshca and installs openssl, golang-cfssl and pebble from Debian when missing).

import 'reflect-metadata';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import https from 'node:https';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CA_BIN = join(ROOT, 'dist/cmd/ca.js');
const dist = (p) => import(join(ROOT, 'dist/src', p));
const { createCsr } = await dist('pki/csr.js');
const { toPem } = await dist('crypto/pem.js');
const { createOcspRequest } = await dist('revocation/ocsp.js');
const { readCertificate } = await dist('pki/certificate.js');
const { readPublicKeyInfo } = await dist('crypto/keys.js');
const { readPemLabelled } = await dist('crypto/pem.js');

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
/** Seconds of load before the fleet's latencies count (JIT); every service has connected and renewed once before. */
const WARMUP = 1;
const work = mkdtempSync(join(tmpdir(), 'meshca-bench-'));
const scenarios = [];
let current = '';
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const log = (...a) => console.error('bench:', ...a);
const ca = (...args) => execFileSync(process.execPath, [CA_BIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

/** One figure with a target; `met` is computed from the measurement, never written by hand. */
function record({ name, metric, unit, value, peer = null, target, note }) {
  const ratio = peer && peer.value > 0 ? round(value / peer.value, 2) : null;
  let met;
  if (target.kind === 'min') met = value >= target.value;
  else if (target.kind === 'max') met = value <= target.value;
  else if (target.kind === 'ratioMin') met = ratio !== null && ratio >= target.value;
  else if (target.kind === 'ratioMax') met = ratio !== null && ratio <= target.value;
  const entry = { scenario: current, name, metric, unit, value: round(value, 2), peer, ratio, target, met, ...(note ? { note } : {}) };
  scenarios.push(entry);
  log(`${met ? 'MET ' : 'MISS'} ${name}: ${metric} = ${entry.value} ${unit}${peer ? ` (${peer.name}: ${round(peer.value, 2)}, ratio ${ratio})` : ''}`);
  return entry;
}
const round = (v, d) => Math.round(v * 10 ** d) / 10 ** d;

async function startServe(dir, args = []) {
  const logPath = join(dir, '..', `serve-${Date.now()}.log`);
  const fd = openSync(logPath, 'w');
  // All load comes from 127.0.0.1: the per-caller rate limit, the per-client OCSP signing budget and the
  // connection cap are lifted so they do not cap what is measured.
  const limits = ['--rate-limit', '1000000', '--ocsp-sign-limit', '0', '--max-connections', '100000'];
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const child = spawn(process.execPath, [...profile, CA_BIN, 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...limits, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  for (let i = 0; i < 200; i++) {
    const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { https: h, http } = JSON.parse(line);
      return { child, httpsPort: h.port, httpPort: http.port, stop: () => {
        // Resolves when it has exited (a --cpu-prof profile is written on the way out).
        const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        children.delete(child);
        return exited;
      } };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ca serve did not start: ${readFileSync(logPath, 'utf8')}`);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (a peer started in the background). */
async function waitForPort(port, ms = 10_000) {
  const { connect } = await import('node:net');
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** The median of `items` by `key` (the lower of the two middle ones for an even count). */
const middle = (items, key = (x) => x) => [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
/** "min-max" of `xs`, rounded to `digits`, followed by `unit`. */
const range = (xs, unit, digits = 0) => `${round(Math.min(...xs), digits)}-${round(Math.max(...xs), digits)}${unit}`;

/** Load runs per measurement: the median is reported, with the min and max (BENCH_RUNS, default 3). */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));

/**
 * autocannon `RUNS` times in this process (the service measured runs in its own): the run with the median rate,
 * with every run's rate (`runs`) and the share of the machine's CPU the load generator itself used (`clientCpu`).
 */
async function cannon(opts) {
  const runs = [];
  for (let k = 0; k < RUNS; k++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await cannonOnce(opts);
    const cpu = process.cpuUsage(cpu0);
    res.clientCpu = (cpu.user + cpu.system) / 1000 / (performance.now() - t0) / cpus().length;
    runs.push(res);
  }
  const median = middle(runs, okRate);
  median.runs = runs.map(okRate);
  // Every run's acknowledged requests: what the durability checks count against the database.
  median.acknowledged = runs.reduce((a, r) => a + (r['2xx'] ?? 0), 0);
  return median;
}

/** "median of 3: 1,990-2,070/s; load generator 21% of the CPU" for a cannon() result. */
const spread = (res) => `median of ${res.runs.length}: ${range(res.runs, '/s')}${res.clientCpu ? `; load generator ${Math.round(res.clientCpu * 100)}% of the CPU` : ''}`;

function cannonOnce(opts) {
  return new Promise((resolve, reject) => {
    const inst = autocannon({ duration: DURATION, ...opts, tlsOptions: { rejectUnauthorized: false, ...(opts.tlsOptions ?? {}) } }, (err, res) => (err ? reject(err) : resolve(res)));
    autocannon.track(inst, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false, outputStream: { write() {} } });
  });
}
const rate = (res) => res.requests.average;
const okRate = (res) => (res['2xx'] ?? 0) / (res.duration || DURATION);

function newCa(name, extra = []) {
  const dir = join(work, name);
  ca('init', '--dir', dir, '--name', 'Bench CA', '--trust-domain', 'bench.internal', ...extra);
  return dir;
}

function csrs(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    out.push(toPem('CERTIFICATE REQUEST', createCsr(privateKey, `svc-${i}`)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
async function signatureCeiling() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(300, 1);
  const end = Date.now() + 2000;
  let n = 0;
  while (Date.now() < end) for (let i = 0; i < 100; i++, n++) sign('sha256', data, privateKey);
  return n / 2;
}

async function issuanceOverApi() {
  log('scenario 1: issuance over the API');
  const dir = newCa('issue');
  const key = ca('apikey', 'create', '--dir', dir, '--name', 'bench', '--scope', 'issue:dns:*.bench.internal').trim();
  const bodies = csrs(400).map((csr, i) => JSON.stringify({ csr, name: `svc-${i}`, dnsNames: [`svc-${i}.bench.internal`] }));
  const svc = await startServe(dir);
  const results = {};
  for (const c of [1, 32]) {
    let i = 0;
    const res = await cannon({
      url: `https://127.0.0.1:${svc.httpsPort}/v1/sign`,
      connections: c,
      requests: [{ method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: bodies[i++ % bodies.length] }) }],
    });
    results[c] = res;
  }
  svc.stop();
  await new Promise((r) => setTimeout(r, 500));
  const db = new Database(join(dir, 'ca.db'), { readonly: true });
  const stored = db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'leaf'").get().n;
  const audited = db.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'issue' AND outcome = 'ok'").get().n;
  db.close();
  const acknowledged = results[1].acknowledged + results[32].acknowledged;

  // cfssl serve on the same CSRs, three ways: its default (plain HTTP, no database: it records nothing), with TLS,
  // and with TLS and its SQL certificate database (SQLite, the schema cfssl's certdb/sqlite migration creates).
  let cfssl = null;
  const cfsslTls = {};
  let cfsslStored = 0;
  try {
    const cdir = join(work, 'cfssl');
    mkdirSync(cdir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(cdir, 'k.pem'), '-out', join(cdir, 'ca.pem'), '-subj', '/CN=cfssl bench', '-days', '30'], { stdio: 'ignore' });
    execFileSync('openssl', ['ec', '-in', join(cdir, 'k.pem'), '-out', join(cdir, 'ca-key.pem')], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(cdir, 'tls.key'), '-out', join(cdir, 'tls.pem'), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'], { stdio: 'ignore' });
    const certdb = new Database(join(cdir, 'certs.db'));
    certdb.exec(`CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob, status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));
      CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, body blob NOT NULL, expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier));`);
    certdb.close();
    writeFileSync(join(cdir, 'db.json'), JSON.stringify({ driver: 'sqlite3', data_source: join(cdir, 'certs.db') }));
    const cbodies = bodies.map((b) => JSON.stringify({ certificate_request: JSON.parse(b).csr, hosts: [JSON.parse(b).dnsNames[0]] }));
    const measure = async (extra, scheme, levels) => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(cdir, 'ca.pem'), '-ca-key', join(cdir, 'ca-key.pem'), '-loglevel', '5', ...extra], { stdio: 'ignore' });
      children.add(child);
      try {
        await waitForPort(port);
        const out = {};
        for (const c of levels) {
          let i = 0;
          out[c] = await cannon({ url: `${scheme}://127.0.0.1:${port}/api/v1/cfssl/sign`, connections: c, requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: cbodies[i++ % cbodies.length] }) }] });
        }
        return out;
      } finally {
        child.kill();
        children.delete(child);
      }
    };
    cfssl = await measure([], 'http', [1, 32]);
    cfsslTls.tls = (await measure(['-tls-cert', join(cdir, 'tls.pem'), '-tls-key', join(cdir, 'tls.key')], 'https', [32]))[32];
    cfsslTls.db = (await measure(['-tls-cert', join(cdir, 'tls.pem'), '-tls-key', join(cdir, 'tls.key'), '-db-config', join(cdir, 'db.json')], 'https', [32]))[32];
    // Not read-only: cfssl was stopped with a signal and may have left its rollback journal for the next opener.
    const counted = new Database(join(cdir, 'certs.db'));
    cfsslStored = counted.prepare('SELECT COUNT(*) AS n FROM certificates').get().n;
    counted.close();
  } catch (e) {
    log('cfssl not measured:', e.message);
  }
  const ceiling = await signatureCeiling();
  const c1 = `c=1: ${round(okRate(results[1]), 1)}/s (p50 ${results[1].latency.p50} ms, p99 ${results[1].latency.p99} ms)${cfssl ? ` vs cfssl ${round(okRate(cfssl[1]), 1)}/s` : ''}, bound by one fsync per request`;
  const note = `durably recorded and audited: ${stored} certificates stored and ${audited} audit rows for ${acknowledged} acknowledged (HTTPS, API key, synchronous=FULL, group commit, ${cpus().length - 1 || 1} signing worker); cfssl over plain HTTP without a database; ${c1}; node:crypto signs ${Math.round(ceiling)} P-256/s in one thread`;
  sqliteIssuance = okRate(results[32]);
  record({ name: 'issuance over the API, c=32', metric: 'certificates/s', unit: '/s', value: okRate(results[32]), peer: cfssl ? { name: 'cfssl serve (its default: plain HTTP, no database)', value: okRate(cfssl[32]) } : null, target: { kind: 'ratioMin', value: 1 }, note: `${note}; meshca ${spread(results[32])}${cfssl ? `; cfssl ${spread(cfssl[32])}` : ''}` });
  if (cfsslTls.tls) record({ name: 'issuance over HTTPS, c=32, against cfssl with TLS', metric: 'certificates/s', unit: '/s', value: okRate(results[32]), peer: { name: 'cfssl serve -tls-cert (HTTPS, no database)', value: okRate(cfsslTls.tls) }, target: { kind: 'ratioMin', value: 1 }, note: `cfssl p99 ${cfsslTls.tls.latency.p99} ms; cfssl ${spread(cfsslTls.tls)}` });
  if (cfsslTls.db) record({ name: 'issuance over HTTPS with a durable record, c=32', metric: 'certificates/s', unit: '/s', value: okRate(results[32]), peer: { name: 'cfssl serve -tls-cert -db-config (HTTPS, its SQLite certdb)', value: okRate(cfsslTls.db) }, target: { kind: 'ratioMin', value: 2 }, note: `cfssl stored ${cfsslStored} certificates (one INSERT per request, go-sqlite3 defaults: rollback journal, synchronous=FULL); no audit log; cfssl ${spread(cfsslTls.db)}` });
  if (cfsslTls.db) record({ name: 'issuance over HTTPS with a durable record, c=32', metric: 'p99 latency', unit: 'ms', value: results[32].latency.p99, peer: { name: 'cfssl serve -tls-cert -db-config', value: cfsslTls.db.latency.p99 }, target: { kind: 'ratioMax', value: 1 } });
  record({ name: 'issuance over the API, c=32', metric: 'p99 latency', unit: 'ms', value: results[32].latency.p99, peer: cfssl ? { name: 'cfssl serve', value: cfssl[32].latency.p99 } : null, target: { kind: 'ratioMax', value: 1.0 } });
  record({ name: 'issuance durability', metric: 'stored and audited / acknowledged', unit: 'ratio', value: Math.min(stored, audited) / Math.max(1, acknowledged), target: { kind: 'min', value: 1 } });
}

/** The SQLite issuance rate at c=32 measured in this run (what the PostgreSQL figures are compared with). */
let sqliteIssuance;

/** Sign requests at `connections` against one service (its own slice of the CSRs), for DURATION seconds. */
function signLoad(port, key, bodies, connections) {
  let i = 0;
  return cannon({ url: `https://127.0.0.1:${port}/v1/sign`, connections, requests: [{ method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: bodies[i++ % bodies.length] }) }] });
}

async function issuancePostgres() {
  log('scenario 1b: issuance over the API on PostgreSQL, one replica and two');
  const { startPostgres, postgresBin } = await import(join(ROOT, 'test/helpers/postgres-server.mjs'));
  const { default: postgres } = await import('postgres');
  // fsync and synchronous commit on, as SQLite's synchronous=FULL: an acknowledged certificate survives power loss.
  const server = await startPostgres({ durable: true });
  try {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE bench');
    await admin.end();
    const url = server.url.replace(/\/postgres$/, '/bench');
    const dir = newCa('pg', ['--database', url]);
    const key = ca('apikey', 'create', '--dir', dir, '--name', 'bench', '--scope', 'issue:dns:*.bench.internal').trim();
    const bodies = csrs(400).map((csr, i) => JSON.stringify({ csr, name: `pg-${i}`, dnsNames: [`pg-${i}.bench.internal`] }));
    if (sqliteIssuance === undefined) {
      const sdir = newCa('pg-sqlite-peer');
      const skey = ca('apikey', 'create', '--dir', sdir, '--name', 'bench', '--scope', 'issue:dns:*.bench.internal').trim();
      const ssvc = await startServe(sdir);
      sqliteIssuance = okRate(await signLoad(ssvc.httpsPort, skey, bodies, 32));
      ssvc.stop();
    }
    const a = await startServe(dir);
    const one = await signLoad(a.httpsPort, key, bodies, 32);
    // A second replica on the same two cores: each gets half the connections, and both write to one database.
    const copy = join(work, 'pg-b');
    cpSync(dir, copy, { recursive: true, filter: (src) => !src.endsWith('serve.lock') });
    const b = await startServe(copy);
    const [ra, rb] = await Promise.all([signLoad(a.httpsPort, key, bodies, 16), signLoad(b.httpsPort, key, bodies, 16)]);
    a.stop();
    b.stop();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const [{ stored }] = await sql`SELECT COUNT(*)::int AS stored FROM certificates WHERE kind = 'leaf' AND common_name LIKE 'pg-%'`;
    const [{ audited }] = await sql`SELECT COUNT(*)::int AS audited FROM audit_log WHERE action = 'issue' AND outcome = 'ok'`;
    await sql.end();
    const acknowledged = one.acknowledged + ra.acknowledged + rb.acknowledged;
    const two = okRate(ra) + okRate(rb);
    const version = execFileSync(join(postgresBin(), 'postgres'), ['--version'], { encoding: 'utf8' }).trim().replace(/^postgres \(PostgreSQL\) /, '');
    const note = `PostgreSQL ${version} on the same machine, fsync and synchronous_commit on; one transaction per group of concurrent issuances, every write under one advisory lock; p99 ${one.latency.p99} ms (SQLite in this run: ${round(sqliteIssuance, 1)}/s)`;
    record({ name: 'issuance over the API on PostgreSQL, one replica, c=32', metric: 'certificates/s', unit: '/s', value: okRate(one), peer: { name: 'meshca on SQLite (same run)', value: sqliteIssuance }, target: { kind: 'ratioMin', value: 0.7 }, note });
    record({ name: 'issuance over the API on PostgreSQL, two replicas on the same 2 cores, c=16+16', metric: 'certificates/s', unit: '/s', value: two, peer: { name: 'one replica', value: okRate(one) }, target: { kind: 'ratioMin', value: 0.8 }, note: `replicas add availability, not throughput, when they share two cores with the database and the load generator; p99 ${Math.max(ra.latency.p99, rb.latency.p99)} ms` });
    record({ name: 'issuance durability on PostgreSQL', metric: 'stored and audited / acknowledged', unit: 'ratio', value: Math.min(stored, audited) / Math.max(1, acknowledged), target: { kind: 'min', value: 1 } });
  } finally {
    server.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------
/** CPU time a process has used so far (user + system, ms), from /proc. */
const procCpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

/** Runs bench/renew-child.mjs in one process per core, each with its share of `creds`; sums what they report. */
async function renewLoad(port, mode, creds, concurrency, servicePid) {
  const loaders = cpus().length;
  const procs = Array.from({ length: loaders }, (_, k) => {
    const path = join(work, `renew-${mode}-${Date.now()}-${k}.json`);
    writeFileSync(path, JSON.stringify(creds.filter((_, i) => i % loaders === k)));
    const child = spawn(process.execPath, [join(ROOT, 'bench/renew-child.mjs'), String(port), mode, String(concurrency / loaders), String(DURATION), path], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(child);
    const lines = jsonLines(child);
    const exited = new Promise((resolve, reject) => child.on('exit', (code) => (children.delete(child), code === 0 ? resolve() : reject(new Error(`renew child exited ${code}`)))));
    return { child, lines, exited };
  });
  // Held connections are all open before the clock starts, in every loader; the service's CPU is counted from then.
  if (mode === 'held') await Promise.all(procs.map((p) => p.lines.next((l) => l.op === 'opened', 120_000, 'the connections to open')));
  const cpu0 = procCpuMs(servicePid);
  if (mode === 'held') for (const p of procs) p.child.stdin.write('go\n');
  const results = await Promise.all(procs.map(async (p) => {
    const r = await p.lines.next((l) => l.ok !== undefined, DURATION * 1000 + 120_000, 'the renewals');
    await p.exited;
    return r;
  }));
  const serviceCpuMs = procCpuMs(servicePid) - cpu0;
  const seconds = Math.max(...results.map((r) => r.seconds));
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const reasons = {};
  for (const r of results) for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
  return {
    rate: ok / seconds,
    ok,
    failed: results.reduce((a, r) => a + r.failed, 0),
    reasons,
    p99: Math.max(...results.map((r) => r.p99)),
    p50: Math.max(...results.map((r) => r.p50)),
    clientCpu: results.reduce((a, r) => a + r.cpuSeconds, 0) / seconds / loaders,
    openMs: Math.max(...results.map((r) => r.openMs)),
    serviceCpuMsPer: serviceCpuMs / Math.max(1, ok),
  };
}

/** Median of `runs` by rate, with every run's rate (`runs`, as cannon() gives them, for spread()). */
const medianOf = (runs) => ({ ...middle(runs, (r) => r.rate), runs: runs.map((r) => r.rate) });

async function renewal() {
  log('scenario: renewal over mTLS against signing, same service');
  const HELD = Number(process.env.BENCH_RENEW_HELD ?? 3000);
  const WARM = 500;
  const C = 32;
  const dir = newCa('renew');
  const key = ca('apikey', 'create', '--dir', dir, '--name', 'bench', '--scope', 'issue:dns:*.bench.internal').trim();
  // Held connections wait for the clock while the others open: idle ones must outlive the opening.
  const svc = await startServe(dir, ['--keep-alive-timeout', '60s']);
  try {
    const bodies = csrs(400).map((csr, i) => JSON.stringify({ csr, name: `rs-${i}`, dnsNames: [`rs-${i}.bench.internal`] }));
    const cpuSign0 = procCpuMs(svc.child.pid);
    const sign = await signLoad(svc.httpsPort, key, bodies, C);
    const signCpuMs = (procCpuMs(svc.child.pid) - cpuSign0) / Math.max(1, sign.runs.reduce((a, r) => a + r, 0) * DURATION);
    const made = Date.now();
    const names = Array.from({ length: WARM + RUNS * HELD + RUNS * C }, (_, i) => `rn-${i}`);
    const creds = (await signOverApi(svc.httpsPort, key, names, 32)).map(({ cert, key: k }) => ({ cert, key: k }));
    log(`issued ${creds.length} certificates to renew in ${Date.now() - made} ms`);
    let at = 0;
    const take = (n) => creds.slice(at, (at += n));
    await renewLoad(svc.httpsPort, 'held', take(WARM), C, svc.child.pid); // JIT, not counted
    const held = [];
    for (let k = 0; k < RUNS; k++) held.push(await renewLoad(svc.httpsPort, 'held', take(HELD), C, svc.child.pid));
    const fresh = [];
    for (let k = 0; k < RUNS; k++) fresh.push(await renewLoad(svc.httpsPort, 'fresh', take(C), C, svc.child.pid));
    const h = medianOf(held);
    const f = medianOf(fresh);
    const failed = [...held, ...fresh].reduce((a, r) => a + r.failed, 0);
    if (failed > 0) log(`renewal failures: ${JSON.stringify([...held, ...fresh].map((r) => r.reasons))}`);
    const signRate = okRate(sign);
    record({
      name: `renewal over mTLS on an open connection (no CSR), c=${C}`,
      metric: 'certificates/s',
      unit: '/s',
      value: h.rate,
      peer: { name: `POST /v1/sign with a CSR and an API key on kept-alive HTTPS, c=${C}, same service`, value: signRate },
      target: { kind: 'ratioMin', value: 2 },
      note: `${HELD} certificates, each renewed once on its own mTLS connection opened before the clock (${round(h.openMs / 1000, 1)} s to open them); p50 ${round(h.p50, 1)} ms, p99 ${round(h.p99, 1)} ms against sign's p99 ${sign.latency.p99} ms; ${failed} failed; renewal ${spread(h)}; sign ${spread(sign)}; service CPU per certificate: renewal ${round(h.serviceCpuMsPer, 2)} ms, sign ${round(signCpuMs, 2)} ms`,
    });
    record({
      name: `renewal over mTLS, a new connection with the new certificate each time (a fleet), c=${C}`,
      metric: 'certificates/s',
      unit: '/s',
      value: f.rate,
      peer: { name: 'the same renewal on an open connection', value: h.rate },
      target: { kind: 'min', value: 420 },
      note: `${C} services, each renewing in a loop over a new mTLS connection with the certificate it got back (a full handshake on both sides, a new certificate signed); p50 ${round(f.p50, 1)} ms, p99 ${round(f.p99, 1)} ms; service CPU ${round(f.serviceCpuMsPer, 2)} ms per renewal (handshake included); ${spread(f)}; target: the 1,000,000-service fleet's 420/s at saturation`,
    });
  } finally {
    await svc.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------
async function issuanceInProcess() {
  log('scenario 2: issuance in-process');
  const dir = newCa('inproc');
  const { LocalCa } = await dist('server/local-ca.js');
  const { verifyCsr } = await dist('pki/csr.js');
  const { lintLeaf } = await dist('pki/lint.js');
  const local = await LocalCa.open(dir);
  const authority = await local.authority(undefined);
  const pems = csrs(200);
  const ders = pems.map((p) => readPemLabelled(p, ['CERTIFICATE REQUEST'], 'csr')[0]);
  const time = (fn, ms = 1500) => {
    const end = Date.now() + ms;
    let n = 0;
    const start = process.hrtime.bigint();
    while (Date.now() < end) for (let i = 0; i < 20; i++, n++) fn(n);
    return Number(process.hrtime.bigint() - start) / 1e3 / n; // µs per op
  };
  // One at a time, each awaited with its own durable commit (what `ca issue` on a directory pays).
  let full = 0;
  {
    const end = Date.now() + 3000;
    const start = process.hrtime.bigint();
    while (Date.now() < end) {
      await authority.issue({ commonName: `s${full}`, dnsNames: [`s${full}.bench.internal`], key: { csr: ders[full % ders.length] } }, { actor: 'bench' });
      full++;
    }
    full = Number(process.hrtime.bigint() - start) / 1e3 / full; // µs per certificate
  }
  // What the service does: requests in flight together share one durable transaction (group commit).
  let grouped = 0;
  {
    const end = Date.now() + 3000;
    const start = process.hrtime.bigint();
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 64 }, (_, k) => authority.issueGrouped({ commonName: `g${grouped + k}`, dnsNames: [`g${grouped + k}.bench.internal`], key: { csr: ders[(grouped + k) % ders.length] } }, { actor: 'bench' })));
      grouped += 64;
    }
    grouped = Number(process.hrtime.bigint() - start) / 1e3 / grouped; // µs per certificate
  }
  const verify = time((n) => verifyCsr(ders[n % ders.length]));
  const leaf = await authority.issue({ commonName: 'x', dnsNames: ['x.bench.internal'], key: { csr: ders[0] } }, { actor: 'bench' });
  const inter = authority.intermediate;
  const lint = time(() => lintLeaf(leaf.der, { issuer: inter.subject, issuerKeyId: inter.keyId, issuerNotAfter: inter.notAfter, trustDomain: 'bench.internal', allowWildcards: false }));
  const { signCertificate } = await dist('pki/certificate.js');
  const { LeafProfile, publicationUrls } = await dist('pki/profile.js');
  const profile = new LeafProfile(inter, publicationUrls('http://127.0.0.1:8080'));
  const subject = { commonName: 'x', spiffeId: undefined, dnsNames: ['x.bench.internal'], ipAddresses: [], publicKey: { algorithm: 'ec', curve: 'P-256', spki: readCertificate(leaf.der).spki, keyBytes: readPublicKeyInfo(readCertificate(leaf.der).spki).keyBytes } };
  const build = time(() => signCertificate(profile.template(subject, Buffer.from('4000000000000000000000000000000a', 'hex'), new Date(), new Date(Date.now() + 3600e3)), inter.signer));
  await local.close();
  record({ name: 'issuance in-process, concurrent (verify CSR, build, sign, lint, group commit)', metric: 'certificates/s', unit: '/s', value: 1e6 / grouped, target: { kind: 'min', value: 2200 }, note: `64 in flight, one thread; per certificate ${round(grouped, 1)} µs: CSR verify ${round(verify, 1)} µs, build + sign ${round(build, 1)} µs, lint ${round(lint, 1)} µs, the rest is the policy, the shared commit and the audit row; one at a time, each with its own synchronous=FULL commit (what \`ca issue\` on a directory pays): ${round(1e6 / full, 1)}/s` });
}

// ---------------------------------------------------------------------------------------------------------
async function ocsp() {
  log('scenario 3: OCSP');
  const dir = newCa('ocsp');
  const leaves = [];
  for (let i = 0; i < 60; i++) leaves.push(JSON.parse(ca('issue', `o${i}`, '--dir', dir, '--dns', `o${i}.bench.internal`, '--cert-out', join(work, `o${i}.pem`), '--key-out', join(work, `o${i}.key`), '--force', '--json')).serial);
  for (const s of leaves.slice(0, 20)) ca('revoke', s, '--dir', dir, '--reason', 'keyCompromise');
  const svc = await startServe(dir);
  const inter = readCertificate(readPemLabelled(readFileSync(join(dir, 'intermediate.pem'), 'utf8'), ['CERTIFICATE'], 'i')[0]);
  const bits = readPublicKeyInfo(inter.spki).keyBytes;
  const reqs = leaves.map((s) => createOcspRequest({ issuerSubject: inter.subject, issuerKeyBits: bits, serial: Buffer.from(s, 'hex') }));
  let i = 0;
  const get = await cannon({ url: `http://127.0.0.1:${svc.httpPort}`, connections: 32, requests: [{ method: 'GET', setupRequest: (r) => ({ ...r, path: `/ocsp/${encodeURIComponent(reqs[i++ % reqs.length].toString('base64'))}` }) }] });
  const post = await cannon({ url: `http://127.0.0.1:${svc.httpPort}/ocsp`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
  const nonce = await cannon({
    url: `http://127.0.0.1:${svc.httpPort}/ocsp`,
    connections: 32,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, setupRequest: (r) => ({ ...r, body: createOcspRequest({ issuerSubject: inter.subject, issuerKeyBits: bits, serial: Buffer.from(leaves[i++ % leaves.length], 'hex'), nonce: Buffer.from(createHash('sha256').update(String(i)).digest().subarray(0, 16)) }) }) }],
  });
  // The same requests from clients that open a connection for each (Connection: close): what the openssl responder
  // serves anyway, so the two are compared within one client behaviour.
  const close = { connection: 'close' };
  const postFresh = await cannon({ url: `http://127.0.0.1:${svc.httpPort}/ocsp`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request', ...close }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
  const nonceFresh = await cannon({
    url: `http://127.0.0.1:${svc.httpPort}/ocsp`,
    connections: 32,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request', ...close }, setupRequest: (r) => ({ ...r, body: createOcspRequest({ issuerSubject: inter.subject, issuerKeyBits: bits, serial: Buffer.from(leaves[i++ % leaves.length], 'hex'), nonce: Buffer.from(createHash('sha256').update(`c${i}`).digest().subarray(0, 16)) }) }) }],
  });
  svc.stop();

  // the openssl ocsp responder on an equivalent index, signing with the intermediate itself
  let peer = null;
  let peerFresh = null;
  try {
    const rows = leaves.map((s, k) => (k < 20 ? `R\t301231235959Z\t261101000000Z,keyCompromise\t${s.toUpperCase()}\tunknown\t/CN=o${k}` : `V\t301231235959Z\t\t${s.toUpperCase()}\tunknown\t/CN=o${k}`));
    writeFileSync(join(work, 'index.txt'), `${rows.join('\n')}\n`);
    // A responder of its own for each load run: after a run of keep-alive clients, -multi workers stopped answering
    // the per-connection runs that followed them on the same responder.
    const responder = async (run) => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const child = spawn('openssl', ['ocsp', '-index', join(work, 'index.txt'), '-port', String(port), '-rsigner', join(dir, 'intermediate.pem'), '-rkey', join(dir, 'private/intermediate.key'), '-CA', join(dir, 'intermediate.pem'), '-multi', String(cpus().length), '-ignore_err'], { stdio: 'ignore' });
      // -multi forks workers: they must go with their parent, or they keep spinning and skew later scenarios.
      const stop = () => {
        spawnSync('pkill', ['-KILL', '-P', String(child.pid)]);
        child.kill('SIGKILL');
      };
      process.on('exit', stop);
      try {
        await waitForPort(port);
        return await run(port);
      } finally {
        stop();
      }
    };
    const ocspLoad = (port, headers) => cannonOnce({ url: `http://127.0.0.1:${port}/`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request', ...headers }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
    const medianLoad = async (headers) => {
      const runs = [];
      for (let k = 0; k < RUNS; k++) runs.push(await responder((port) => ocspLoad(port, headers)));
      return Object.assign(middle(runs, okRate), { runs: runs.map(okRate), clientCpu: 0 });
    };
    peer = await medianLoad({});
    peerFresh = await medianLoad({ connection: 'close' });
  } catch (e) {
    log('openssl ocsp not measured:', e.message);
  }
  // cfssl ocspserve: serves responses pre-signed with `cfssl ocspsign` (by the same intermediate) from a file, as
  // meshca serves its cacheable ones; it signs nothing per request and takes no nonce. Go's net/http keeps
  // connections alive, so it is measured both ways.
  let cfsslAlive = null;
  let cfsslFresh = null;
  try {
    const lines = leaves.map((s, k) => {
      // cfssl takes the leaf alone (the issued file holds the chain after it).
      const leafOnly = join(work, `o${k}-leaf.pem`);
      writeFileSync(leafOnly, `${readFileSync(join(work, `o${k}.pem`), 'utf8').split(/(?<=-----END CERTIFICATE-----)/)[0].trim()}\n`);
      const out = execFileSync('cfssl', ['ocspsign', '-ca', join(dir, 'intermediate.pem'), '-responder', join(dir, 'intermediate.pem'), '-responder-key', join(dir, 'private/intermediate.key'), '-cert', leafOnly, '-loglevel', '5', ...(k < 20 ? ['-status', 'revoked', '-reason', '1'] : [])], { encoding: 'utf8' });
      return JSON.parse(out).ocspResponse;
    });
    writeFileSync(join(work, 'cfssl-ocsp.txt'), `${lines.join('\n')}\n`);
    const load = async (headers) => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const child = spawn('cfssl', ['ocspserve', '-address', '127.0.0.1', '-port', String(port), '-responses', join(work, 'cfssl-ocsp.txt'), '-loglevel', '5'], { stdio: 'ignore' });
      children.add(child);
      try {
        await waitForPort(port);
        const res = await cannon({ url: `http://127.0.0.1:${port}/`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request', ...headers }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
        if ((res['2xx'] ?? 0) === 0) throw new Error(`cfssl ocspserve answered no request with 2xx (${res.non2xx} others, ${res.errors} errors)`);
        return res;
      } finally {
        child.kill('SIGKILL');
        children.delete(child);
      }
    };
    cfsslAlive = await load({});
    cfsslFresh = await load({ connection: 'close' });
  } catch (e) {
    log('cfssl ocspserve not measured:', e.message);
  }

  // What any node:http server does with a new connection per request on this machine and client: a constant body,
  // nothing parsed or looked up. The ceiling for a responder in one Node process.
  let ceiling = null;
  {
    const child = spawn(process.execPath, ['-e', "const b = Buffer.alloc(300, 1); require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => s.end(b)); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });"], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(child);
    try {
      const port = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
      ceiling = await cannon({ url: `http://127.0.0.1:${port}/`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request', connection: 'close' }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
    } finally {
      child.kill('SIGKILL');
      children.delete(child);
    }
  }

  const o = peer ? { name: 'openssl ocsp responder (-multi), which closes the connection after each answer', value: okRate(peer) } : null;
  record({ name: 'OCSP GET, cacheable (no nonce)', metric: 'responses/s', unit: '/s', value: okRate(get), peer: o, target: { kind: 'ratioMin', value: 2 }, note: `p99 ${get.latency.p99} ms; 1/3 revoked serials` });
  record({ name: 'OCSP POST, cacheable (no nonce)', metric: 'responses/s', unit: '/s', value: okRate(post), peer: o, target: { kind: 'ratioMin', value: 2 }, note: `p99 ${post.latency.p99} ms` });
  record({ name: 'OCSP POST with nonce (signed per request)', metric: 'responses/s', unit: '/s', value: okRate(nonce), peer: o, target: { kind: 'ratioMin', value: 1 }, note: `p99 ${nonce.latency.p99} ms` });
  // Within one client behaviour: a new connection per request on both sides (issue 17's ratios).
  const fresh = peerFresh ? { name: 'openssl ocsp responder (-multi), a connection per request', value: okRate(peerFresh) } : null;
  record({ name: 'OCSP POST, cacheable, a new connection per request on both sides', metric: 'responses/s', unit: '/s', value: okRate(postFresh), peer: fresh, target: { kind: 'ratioMin', value: 3 }, note: `p99 ${postFresh.latency.p99} ms; meshca ${spread(postFresh)}${peerFresh ? `; openssl ${spread(peerFresh)}` : ''}${ceiling ? `; a bare node:http server answering a constant body to the same clients: ${Math.round(okRate(ceiling))}/s (${spread(ceiling)}), the ceiling for one Node process` : ''}` });
  record({ name: 'OCSP POST with nonce, a new connection per request on both sides', metric: 'responses/s', unit: '/s', value: okRate(nonceFresh), peer: fresh, target: { kind: 'ratioMin', value: 1 }, note: `p99 ${nonceFresh.latency.p99} ms; meshca ${spread(nonceFresh)}` });
  if (cfsslAlive) record({ name: 'OCSP POST, cacheable, keep-alive clients, against cfssl ocspserve', metric: 'responses/s', unit: '/s', value: okRate(post), peer: { name: 'cfssl ocspserve (pre-signed responses from a file), keep-alive', value: okRate(cfsslAlive) }, target: { kind: 'ratioMin', value: 1 }, note: `both serve a response signed before the request; cfssl p99 ${cfsslAlive.latency.p99} ms; cfssl ${spread(cfsslAlive)}` });
  if (cfsslFresh) record({ name: 'OCSP POST, cacheable, a new connection per request, against cfssl ocspserve', metric: 'responses/s', unit: '/s', value: okRate(postFresh), peer: { name: 'cfssl ocspserve, a connection per request', value: okRate(cfsslFresh) }, target: { kind: 'ratioMin', value: 1 }, note: `cfssl p99 ${cfsslFresh.latency.p99} ms; cfssl ${spread(cfsslFresh)}` });
}

// ---------------------------------------------------------------------------------------------------------
async function crl() {
  log('scenario 4: CRL');
  const span = (xs) => range(xs, ' s', 3);
  const nodeStart = medianRun(5, process.execPath, ['-e', '0']) / 1000;
  for (const n of [10_000, 100_000, 1_000_000]) {
    const dir = newCa(`crl${n}`);
    // In a fresh process each time: the first build (start-up excluded) and the re-sign a running service does.
    const inside = [];
    for (let k = 0; k < RUNS; k++) {
      const r = spawnSync(process.execPath, [join(ROOT, 'bench/crl-child.mjs'), dir, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(r.stderr);
      inside.push(JSON.parse(r.stdout));
    }
    const { out, maxRssMb } = inside[0];
    const t0 = process.hrtime.bigint();
    execFileSync('openssl', ['crl', '-in', out, '-inform', 'DER', '-noout'], { stdio: 'ignore' });
    const parse = Number(process.hrtime.bigint() - t0) / 1e9;
    // What an operator runs, timed whole (process start to exit, as openssl is): `ca crl --dir DIR --out FILE`.
    const cli = [];
    for (let k = 0; k < RUNS; k++) cli.push(medianRun(1, process.execPath, [CA_BIN, 'crl', '--dir', dir, '--out', join(work, `crl-${n}-cli.der`)]) / 1000);
    // openssl ca -gencrl on an index of the same size, signing with the same key
    const odir = join(work, `ossl${n}`);
    mkdirSync(odir);
    const rows = [];
    for (let k = 0; k < n; k++) rows.push(`R\t301231235959Z\t261101000000Z,keyCompromise\t4${k.toString(16).padStart(31, '0').toUpperCase()}\tunknown\t/CN=x`);
    writeFileSync(join(odir, 'index.txt'), `${rows.join('\n')}\n`);
    writeFileSync(join(odir, 'crlnumber'), '01\n');
    writeFileSync(join(odir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${odir}/index.txt\ncrlnumber=${odir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\ncertificate=${dir}/intermediate.pem\nprivate_key=${dir}/private/intermediate.key\n`);
    const gencrl = [];
    for (let k = 0; k < RUNS; k++) gencrl.push(medianRun(1, 'openssl', ['ca', '-config', join(odir, 'ca.cnf'), '-gencrl', '-out', join(odir, 'crl.pem')]) / 1000);
    const peer = { name: 'openssl ca -gencrl (process start to exit)', value: middle(gencrl) };
    const label = n.toLocaleString('en-US');
    const first = inside.map((r) => r.seconds);
    const resign = inside.map((r) => r.resign);
    const runs = `median of ${RUNS}; openssl ${span(gencrl)}`;
    const target = n === 1_000_000 ? { kind: 'max', value: 5 } : n === 100_000 ? { kind: 'ratioMax', value: 0.5 } : { kind: 'ratioMax', value: 1 };
    record({ name: `CRL of ${label} entries: \`ca crl\`, process start to exit`, metric: 'wall time', unit: 's', value: middle(cli), peer, target, note: `the equal-work figure: a fresh process that opens the CA, reads the revocations, signs and writes the CRL; ${runs}; ca crl ${span(cli)}; \`node -e 0\` alone takes ${round(nodeStart, 3)} s here` });
    record({ name: `CRL of ${label} entries, first build in a fresh process (its start-up excluded)`, metric: 'generation time', unit: 's', value: middle(first), peer, target, note: `${runs}; ${span(first)}; peak RSS ${maxRssMb} MB; OpenSSL parses it in ${round(parse, 2)} s` });
    record({ name: `CRL of ${label} entries, re-signed by the running service`, metric: 'generation time', unit: 's', value: middle(resign), peer, target, note: `${runs}; ${span(resign)}` });
    if (n === 1_000_000) record({ name: 'CRL of 1,000,000 entries', metric: 'peak RSS', unit: 'MB', value: maxRssMb, target: { kind: 'max', value: 512 } });
  }
}

// ---------------------------------------------------------------------------------------------------------
async function handshakes() {
  log('scenario 5: mTLS handshakes');
  const dir = newCa('mtls');
  for (const name of ['server', 'client']) ca('issue', name, '--dir', dir, '--spiffe-id', `spiffe://bench.internal/${name}`, '--dns', 'localhost', '--ip', '127.0.0.1', '--cert-out', join(dir, `${name}.pem`), '--key-out', join(dir, `${name}.key`));
  writeFileSync(join(dir, 'root.pem'), readFileSync(join(dir, 'root.pem')));
  const child = join(ROOT, 'bench/mtls-child.mjs');
  const out = {};
  // The three alternate, RUNS times each, so a slow stretch of the machine does not land on one of them.
  for (const mode of Array.from({ length: RUNS }, () => ['plain', 'equal', 'meshca']).flat()) {
    const server = spawn(process.execPath, [child, 'server', mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(server);
    const port = await new Promise((r) => server.stdout.once('data', (d) => r(String(d).trim())));
    const r = spawnSync(process.execPath, [child, 'client', mode, dir, port, String(Math.ceil(DURATION / 2))], { encoding: 'utf8' });
    server.kill();
    children.delete(server);
    if (r.status !== 0) throw new Error(r.stderr);
    const { rate: rps, failed } = JSON.parse(r.stdout);
    if (failed > 0) log(`${mode}: ${failed} failed requests`);
    (out[mode] ??= []).push(rps);
  }
  const runs = `median of ${RUNS} alternating runs each (meshca ${range(out.meshca, '/s')}, plain ${range(out.plain, '/s')}, plain configured alike ${range(out.equal, '/s')})`;
  for (const m of Object.keys(out)) out[m] = middle(out[m]);
  record({ name: 'mTLS new-connection requests (createMtlsServer + createMtlsAgent)', metric: 'requests/s', unit: '/s', value: out.meshca, peer: { name: 'plain https with requestCert, same certificates', value: out.plain }, target: { kind: 'ratioMin', value: 0.95 }, note: `${runs}, 16 concurrent clients in a process of their own, a new TLS connection per request; the helper builds its OpenSSL context once per credential change, while a plain https.Agent given cert/key/ca builds one per connection` });
  // Equal work: plain https configured as the helper is (no session tickets, one client context, no session cache).
  record({ name: 'mTLS new-connection requests, against plain https configured alike', metric: 'requests/s', unit: '/s', value: out.meshca, peer: { name: 'plain https: SSL_OP_NO_TICKET on the server, one prebuilt client SecureContext, no session cache', value: out.equal }, target: { kind: 'ratioMin', value: 0.95 }, note: 'the same TLS version (1.3), cipher and certificates; what remains of the difference is what the helper adds per connection (identity and revocation checks)' });
}

// ---------------------------------------------------------------------------------------------------------
async function renewalFleet() {
  log('scenario 6: renewal fleet');
  const dir = newCa('fleet');
  // Each service moves to the certificate it gets back and renews that one next (a new mTLS handshake each time, a
  // new successor signed each time), as a real one does: equal work to a fleet in production.
  const svc = await startServe(dir);
  const creds = [];
  for (let i = 0; i < 50; i++) {
    const token = ca('token', `f${i}`, '--dir', dir, '--spiffe-id', `spiffe://bench.internal/fleet/${i}`, '--cert-ttl', '1h').trim();
    ca('issue', `f${i}`, '--ca-url', `https://127.0.0.1:${svc.httpsPort}`, '--ca-bundle', join(dir, 'root.pem'), '--token', token, '--cert-out', join(work, `f${i}.pem`), '--key-out', join(work, `f${i}.key`), '--force');
    creds.push({ certPath: join(work, `f${i}.pem`), keyPath: join(work, `f${i}.key`) });
  }
  // 1,000,000 services on 1-hour certificates renewing at two thirds: ~420 renewals/s. Each credential is one
  // service with its own mTLS connection; the load comes from one child process per core, at a fixed rate.
  const target = 420;
  const cpuBefore = readFileSync(`/proc/${svc.child.pid}/stat`, 'utf8').split(' ');
  const loaders = cpus().length;
  const results = await Promise.all(
    Array.from({ length: loaders }, (_, k) => {
      const mine = creds.filter((_, i) => i % loaders === k).map((c) => `${c.certPath}:${c.keyPath}`);
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [join(ROOT, 'bench/fleet-child.mjs'), String(svc.httpsPort), String(target / loaders), String(WARMUP), String(DURATION), ...mine], { stdio: ['ignore', 'pipe', 'inherit'] });
        children.add(child);
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`fleet child exited ${code}`))));
      });
    }),
  );
  const cpuAfter = readFileSync(`/proc/${svc.child.pid}/stat`, 'utf8').split(' ');
  const ticks = (s) => Number(s[13]) + Number(s[14]);
  const cpuShare = (ticks(cpuAfter) - ticks(cpuBefore)) / 100 / (WARMUP + DURATION) / cpus().length;
  svc.stop();
  const achieved = results.reduce((a, r) => a + r.ok, 0) / DURATION;
  const failed = results.reduce((a, r) => a + r.failed, 0);
  const reasons = {};
  for (const r of results) for (const [k, v] of Object.entries(r.reasons ?? {})) reasons[k] = (reasons[k] ?? 0) + v;
  if (failed > 0) log(`renewal fleet failures: ${JSON.stringify(reasons)}`);
  const p99 = Math.max(...results.map((r) => r.p99));
  const worst = Math.max(...results.map((r) => r.worstP99));
  record({ name: 'renewal fleet at 420 renewals/s (1,000,000 services, 1-hour certificates)', metric: 'sustained renewals/s', unit: '/s', value: achieved, target: { kind: 'min', value: target * 0.98 }, note: `each renewal a new mTLS connection with the certificate the last one returned, and a new certificate signed; service CPU ${round(cpuShare * 100, 1)}% of ${cpus().length} cores; ${failed} failed; p50 ${round(Math.max(...results.map((r) => r.p50)), 1)} ms; worst single service p99 ${round(worst, 1)} ms; latency counted from each request's scheduled time, after ${WARMUP} s of warm-up` });
  record({ name: 'renewal fleet at 420 renewals/s', metric: 'p99 latency', unit: 'ms', value: p99, target: { kind: 'max', value: 100 } });
}

/** Wall time of one process run, median of `n` (a fresh process each time, as an operator or script runs them). */
function medianRun(n, command, args) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    const r = spawnSync(command, typeof args === 'function' ? args(i) : args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${command} ${args} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return middle(times);
}

async function cliStartup() {
  const dir = newCa('cli');
  const root = join(dir, 'root.pem');
  const openssl = { name: 'openssl x509 -noout', value: medianRun(15, 'openssl', ['x509', '-noout', '-in', root]) };
  const node = medianRun(15, process.execPath, ['-e', '0']);
  const version = medianRun(15, process.execPath, [CA_BIN, '--version']);
  record({ name: 'ca --version (process start to exit)', metric: 'median wall time', unit: 'ms', value: version, peer: openssl, target: { kind: 'max', value: 150 }, note: `node -e 0 alone takes ${round(node, 1)} ms` });
  const inspect = medianRun(15, process.execPath, [CA_BIN, 'inspect', root]);
  record({ name: 'ca inspect root.pem', metric: 'median wall time', unit: 'ms', value: inspect, peer: openssl, target: { kind: 'max', value: 150 }, note: 'loads @peculiar/x509 to parse and describe' });
  const out = join(work, 'cli-out');
  mkdirSync(out, { recursive: true });
  const issue = medianRun(9, process.execPath, (i) => [CA_BIN, 'issue', `svc-${i}`, '--dir', dir, '--dns', `svc-${i}.bench.internal`, '--cert-out', join(out, `${i}.pem`), '--key-out', join(out, `${i}.key`)]);
  record({ name: 'ca issue on a local directory (key generated, signed, stored, audited)', metric: 'median wall time', unit: 'ms', value: issue, peer: openssl, target: { kind: 'max', value: 300 } });
}

// ---------------------------------------------------------------------------------------------------------
/** Reads a child's stdout as JSON lines; `next(pred, ms)` resolves with the first line (seen or coming) that matches. */
function jsonLines(child) {
  const seen = [];
  const waiters = new Set();
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
      const line = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      const w = [...waiters].find((x) => x.pred(line));
      if (w) (waiters.delete(w), w.resolve(line));
      else seen.push(line);
    }
  });
  const next = (pred, ms, what) => {
    const i = seen.findIndex(pred);
    if (i !== -1) return Promise.resolve(seen.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (l) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`timed out waiting for ${what}`))), ms);
      waiters.add(w);
    });
  };
  const send = (o) => child.stdin.write(`${JSON.stringify(o)}\n`);
  return { next, send };
}

/** `ca ...` as a process of its own, not blocking the event loop: resolves with its exit code and when it returned. */
function caProcess(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CA_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr, returned: Date.now() }));
  });
}

/** Leaves for fresh keys over POST /v1/sign (one API key, `concurrency` requests in flight): [{serial, cert, key}]. */
async function signOverApi(port, apiKey, names, concurrency = 16) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, rejectUnauthorized: false });
  const out = new Array(names.length);
  let next = 0;
  const one = (i) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(privateKey, names[i])), name: names[i], dnsNames: [`${names[i]}.bench.internal`] });
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/v1/sign', method: 'POST', agent, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          if (res.statusCode !== 201) return reject(new Error(`POST /v1/sign answered ${res.statusCode}: ${text}`));
          const leaf = JSON.parse(text);
          resolve({ serial: leaf.serial, cert: `${leaf.certificate}\n${leaf.chain}`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < names.length; i = next++) out[i] = await one(i);
  }));
  agent.destroy();
  return out;
}

/** A body over plain HTTP from the service (a kept-alive connection per agent). */
function httpBody(agent, port, path, method = 'GET', body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: body ? { 'content-type': 'application/ocsp-request', 'content-length': body.length } : {} }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (xs, p) => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const vmRssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function revocationReach() {
  log('scenario 7: revocation reach');
  const SUBSCRIBERS = 200;
  const MEMORY_SUBSCRIBERS = 1000;
  const LOADERS = 4;
  const ROUNDS = Number(process.env.BENCH_REACH_ROUNDS ?? 25);
  const ROUNDS_AT_1000 = Math.ceil(ROUNDS / 2.5);
  /** The simulated CRL-polling relying parties' period (a shortened 60 s: the model scales, the bench stays short). */
  const POLL_MS = 5000;
  const POLLERS = 20;
  const { verifyOcspResponse } = await dist('revocation/ocsp-verify.js');
  const { crlSerials, readCrl, crlSignedBy } = await dist('revocation/crl.js');

  const dir = newCa('reach');
  const apiKey = ca('apikey', 'create', '--dir', dir, '--name', 'bench', '--scope', 'issue:dns:*.bench.internal').trim();
  const issuer = await startServe(dir);
  const rootPath = join(dir, 'root.pem');
  const bundlePath = join(work, 'reach-bundle.pem');
  writeFileSync(bundlePath, `${readFileSync(rootPath, 'utf8').trim()}\n${readFileSync(join(dir, 'intermediate.pem'), 'utf8').trim()}\n`);
  const inter = readCertificate(readPemLabelled(readFileSync(join(dir, 'intermediate.pem'), 'utf8'), ['CERTIFICATE'], 'i')[0]);
  const interBits = readPublicKeyInfo(inter.spki).keyBytes;

  // Every certificate the scenario needs, issued over the API with one API key before anything is measured.
  const victimCount = 1 + ROUNDS_AT_1000 + ROUNDS; // the first is a warm-up, not counted
  const issuedAt = Date.now();
  const leaves = await signOverApi(issuer.httpsPort, apiKey, [...Array.from({ length: MEMORY_SUBSCRIBERS }, (_, i) => `sub-${i}`), 'server', ...Array.from({ length: victimCount }, (_, i) => `victim-${i}`)]);
  log(`issued ${leaves.length} certificates over the API in ${Date.now() - issuedAt} ms`);
  // The service that is measured is a fresh one: the memory the issuance grew would otherwise hide what subscriptions cost.
  const stopped = new Promise((r) => issuer.child.once('exit', r));
  issuer.stop();
  await stopped;
  const svc = await startServe(dir);
  const caUrl = `https://127.0.0.1:${svc.httpsPort}`;
  const subs = leaves.slice(0, MEMORY_SUBSCRIBERS);
  const server = leaves[MEMORY_SUBSCRIBERS];
  const victims = leaves.slice(MEMORY_SUBSCRIBERS + 1);
  writeFileSync(join(work, 'reach-server.pem'), server.cert);
  writeFileSync(join(work, 'reach-server.key'), server.key);

  const startChild = (script, args) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(child);
    return { child, ...jsonLines(child) };
  };
  // The server that refuses: a meshca/tls server on a source subscribed to the stream (one subscription).
  const mtls = startChild('reach-mtls-child.mjs', [caUrl, rootPath, bundlePath, join(work, 'reach-server.pem'), join(work, 'reach-server.key')]);
  await mtls.next((l) => l.op === 'ready', 20_000, 'the mTLS server');
  const loaders = Array.from({ length: LOADERS }, (_, k) => {
    const path = join(work, `reach-creds-${k}.json`);
    writeFileSync(path, JSON.stringify(subs.filter((_, i) => i % LOADERS === k).map(({ cert, key }) => ({ cert, key }))));
    return startChild('reach-subscriber-child.mjs', [caUrl, rootPath, bundlePath, path]);
  });

  const metric = async (name) => {
    const text = (await httpBody(undefined, svc.httpPort, '/metrics')).toString('utf8');
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  /** The service's memory once settled: median VmRSS of five samples 400 ms apart, and the heap /metrics reports. */
  const memory = async (settleMs) => {
    await new Promise((r) => setTimeout(r, settleMs));
    const rss = [];
    for (let i = 0; i < 5; i++) {
      rss.push(vmRssKb(svc.child.pid));
      await new Promise((r) => setTimeout(r, 400));
    }
    await new Promise((r) => setTimeout(r, 1100)); // /metrics is cached for a second
    return { rssKb: percentile(rss, 50), heapKb: (await metric('meshca_nodejs_heap_size_used_bytes')) / 1024, subscribers: await metric('meshca_revocation_stream_subscribers') };
  };

  // 1. Memory: the service idle with one subscription (the mTLS server's), then with 1,000 more.
  const idle = await memory(3000);
  let openMs = 0;
  const openUpTo = async (total) => {
    const opening = Date.now();
    for (const l of loaders) l.send({ op: 'open', count: total / LOADERS });
    const opened = await Promise.all(loaders.map((l) => l.next((m) => m.op === 'opened', 60_000, 'subscriptions')));
    openMs += Date.now() - opening;
    return opened;
  };
  await openUpTo(MEMORY_SUBSCRIBERS / 2);
  const half = await memory(4000);
  const opened = await openUpTo(MEMORY_SUBSCRIBERS);
  const full = await memory(4000);
  const perSubKb = (full.rssKb - idle.rssKb) / MEMORY_SUBSCRIBERS;
  const marginalKb = (full.rssKb - half.rssKb) / (MEMORY_SUBSCRIBERS / 2);
  const perSubHeapKb = (full.heapKb - idle.heapKb) / MEMORY_SUBSCRIBERS;
  log(`RSS ${idle.rssKb} → ${half.rssKb} → ${full.rssKb} kB, heap ${round(idle.heapKb, 0)} → ${round(half.heapKb, 0)} → ${round(full.heapKb, 0)} kB; ${full.subscribers} subscribers; opened in ${openMs} ms`);

  // CRL-polling relying parties: each fetches the CRL every POLL_MS (random phase), checks its signature, and keeps
  // the serials it lists with when it had them.
  const pollAgent = new http.Agent({ keepAlive: true });
  const pollers = Array.from({ length: POLLERS }, () => ({ fetches: [] }));
  let polling = true;
  const pollerLoops = pollers.map(async (p) => {
    await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
    while (polling) {
      const due = Date.now() + POLL_MS;
      const der = await httpBody(pollAgent, svc.httpPort, '/crl/intermediate.crl');
      if (crlSignedBy(readCrl(der), inter)) p.fetches.push({ t: Date.now(), serials: new Set(crlSerials(der)) });
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
  });

  // 2. Rounds: revoke a victim with `ca revoke --dir` (as an operator would), t0 = when that process returned.
  const fastAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const untilRevoked = async (t0, fetch) => {
    for (;;) {
      if (await fetch()) return Date.now() - t0;
      if (Date.now() - t0 > 15_000) return Infinity;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const rounds = [];
  const revokeOnce = async (v, open) => {
    mtls.send({ op: 'victim', serial: v.serial, cert: v.cert, key: v.key });
    await mtls.next((l) => l.serial === v.serial && (l.op === 'armed' || l.op === 'error'), 10_000, 'the victim to connect');
    const ocspRequest = createOcspRequest({ issuerSubject: inter.subject, issuerKeyBits: interBits, serial: Buffer.from(v.serial, 'hex') });
    // A relying party that asked before: the responder holds a pre-signed "good" for it, which the revocation must drop.
    const before = verifyOcspResponse(await httpBody(fastAgent, svc.httpPort, '/ocsp', 'POST', ocspRequest), { leaf: { serial: v.serial }, issuer: inter, nonce: undefined, now: new Date() });
    if (before.status !== 'good') throw new Error(`OCSP said ${before.status} for ${v.serial} before its revocation`);
    const started = Date.now();
    const r = await caProcess(['revoke', v.serial, '--dir', dir, '--reason', 'keyCompromise']);
    if (r.code !== 0) throw new Error(`ca revoke exited ${r.code}: ${r.stderr}`);
    const t0 = r.returned;
    // A body is checked (signature and all) only when it differs from the last one: the same pre-signed bytes come
    // back until the service acts, and checking each poll would take the CPU the subscribers share.
    const changed = (check) => {
      let last;
      return (body) => {
        if (last && body.equals(last)) return false;
        last = body;
        return check(body);
      };
    };
    const ocspRevoked = changed((body) => verifyOcspResponse(body, { leaf: { serial: v.serial }, issuer: inter, nonce: undefined, now: new Date() }).status === 'revoked');
    const crlLists = changed((der) => crlSignedBy(readCrl(der), inter) && crlSerials(der).includes(v.serial));
    const [ocspMs, crlMs, pushed, refusal] = await Promise.all([
      untilRevoked(t0, async () => ocspRevoked(await httpBody(fastAgent, svc.httpPort, '/ocsp', 'POST', ocspRequest))),
      untilRevoked(t0, async () => crlLists(await httpBody(fastAgent, svc.httpPort, '/crl/intermediate.crl'))),
      Promise.all(loaders.map((l) => l.next((m) => m.op === 'arrived' && m.serial === v.serial, 10_000, 'arrivals').catch(() => (l.send({ op: 'flush', serial: v.serial }), l.next((m) => m.op === 'arrived' && m.serial === v.serial, 5_000, 'a flush'))))),
      mtls.next((l) => l.op === 'refused' && l.serial === v.serial, 20_000, 'the refusal'),
    ]);
    const arrivals = pushed.flatMap((m) => m.times.map((t) => t - t0));
    // How far apart one process's streams got the event: they are handled one after another on its event loop.
    const gaps = pushed.filter((m) => m.times.length > 1).map((m) => (Math.max(...m.times) - Math.min(...m.times)) / (m.times.length - 1));
    const missed = pushed.reduce((a, m) => a + (m.open - m.times.length), 0);
    rounds.push({ open, t0, serial: v.serial, cli: t0 - started, ocspMs, crlMs, arrivals, gaps, missed, closedMs: refusal.closedAt === null ? Infinity : refusal.closedAt - t0, refusedMs: refusal.refusedAt === null ? Infinity : refusal.refusedAt - t0 });
    if (process.env.BENCH_TRACE) log(JSON.stringify({ open, cli: t0 - started, ocspMs, crlMs, push: [Math.min(...arrivals), percentile(arrivals, 50), Math.max(...arrivals)], missed, closed: refusal.closedAt - t0, refused: refusal.refusedAt - t0 }));
    // Revocations apart by a random gap, so they fall anywhere in the service's 250 ms polling of its log.
    await new Promise((res) => setTimeout(res, 200 + Math.random() * 500));
  };
  // One revocation first, not counted: each process's first verification of an event runs cold (JIT).
  await revokeOnce(victims[0], 0);
  for (let i = 1; i <= ROUNDS_AT_1000; i++) await revokeOnce(victims[i], MEMORY_SUBSCRIBERS);
  for (const l of loaders) l.send({ op: 'close', keep: SUBSCRIBERS / LOADERS });
  await Promise.all(loaders.map((l) => l.next((m) => m.op === 'closed', 10_000, 'closing')));
  const afterClose = await memory(3000);
  for (let i = 1 + ROUNDS_AT_1000; i < victimCount; i++) await revokeOnce(victims[i], SUBSCRIBERS);
  // The pollers keep going one period past the last revocation, then say when they first listed each victim.
  await new Promise((r) => setTimeout(r, POLL_MS + 1000));
  polling = false;
  await Promise.all(pollerLoops);
  pollAgent.destroy();
  fastAgent.destroy();
  for (const l of [...loaders, mtls]) {
    l.child.kill();
    children.delete(l.child);
  }
  svc.stop();

  // The peer: plain node:https holding the same 1,000 mTLS connections (same certificates, same open-ended answer).
  const plain = startChild('tls-hold-child.mjs', ['server', join(work, 'reach-server.pem'), join(work, 'reach-server.key')]);
  const { port: plainPort } = await plain.next((l) => l.port, 10_000, 'the plain https server');
  const plainRss = async (settleMs) => {
    await new Promise((r) => setTimeout(r, settleMs));
    const xs = [];
    for (let i = 0; i < 5; i++) {
      plain.send({});
      xs.push((await plain.next((l) => l.rssKb, 5_000, 'its RSS')).rssKb);
      await new Promise((r) => setTimeout(r, 400));
    }
    return percentile(xs, 50);
  };
  const plainIdle = await plainRss(2000);
  const holders = Array.from({ length: LOADERS }, (_, k) => startChild('tls-hold-child.mjs', ['client', String(plainPort), join(work, `reach-creds-${k}.json`)]));
  await Promise.all(holders.map((h) => h.next((l) => l.open !== undefined, 60_000, 'plain connections')));
  const plainFull = await plainRss(4000);
  for (const c of [plain, ...holders]) {
    c.child.kill();
    children.delete(c.child);
  }
  const plainPerConnKb = (plainFull - plainIdle) / MEMORY_SUBSCRIBERS;

  const at = (open) => rounds.filter((r) => r.open === open);
  const summary = (xs) => `p50 ${round(percentile(xs, 50), 0)} ms, p99 ${round(percentile(xs, 99), 0)} ms, max ${round(Math.max(...xs), 0)} ms`;
  const main = at(SUBSCRIBERS);
  const big = at(MEMORY_SUBSCRIBERS);
  const push = main.flatMap((r) => r.arrivals);
  const pushBig = big.flatMap((r) => r.arrivals);
  const counted = rounds.filter((r) => r.open > 0);
  const gap = (rs) => round(percentile(rs.flatMap((r) => r.gaps), 50), 2);
  const alone = summary(counted.map((r) => r.closedMs));
  const missed = counted.reduce((a, r) => a + r.missed, 0);
  const ocspMs = counted.map((r) => r.ocspMs);
  const crlMs = counted.map((r) => r.crlMs);
  const refusedMs = counted.map((r) => r.refusedMs);
  const closedMs = counted.map((r) => r.closedMs);
  const cliMs = counted.map((r) => r.cli);
  const polled = [];
  for (const r of counted) {
    for (const p of pollers) {
      const first = p.fetches.find((f) => f.serials.has(r.serial));
      polled.push(first ? first.t - r.t0 : Infinity);
    }
  }
  const crlDelay = percentile(crlMs, 50);
  const ideal = { mean: crlDelay + POLL_MS / 2, worst: crlDelay + POLL_MS };
  const meanPolled = polled.reduce((a, b) => a + b, 0) / polled.length;
  const where = `one machine, ${cpus().length} cores shared by the CA, ${LOADERS} subscriber processes, the mTLS server and this harness; t0 = when the \`ca revoke SERIAL --dir\` process returned (it takes ${round(percentile(cliMs, 50), 0)} ms median, start to exit), times from Date.now() in each process`;
  record({
    name: `revocation reach, push: ${SUBSCRIBERS} subscriptions in ${LOADERS} processes, ${main.length} revocations`,
    metric: 'p99, ca revoke returned → verified event',
    unit: 'ms',
    value: percentile(push, 99),
    target: { kind: 'max', value: 2000 },
    note: `${push.length} arrivals (${SUBSCRIBERS} RevocationStreams, each its own client certificate and mTLS connection, × ${main.length} revocations); ${summary(push)}; ${missed} missed; arrival = the stream's \`revoked\` event, after it checked the event's OCSP signature; the service reads its SQLite revocation log every 250 ms; a process's ${SUBSCRIBERS / LOADERS} streams got each event ${gap(main)} ms apart (median; handled in turn on one event loop, each checking the signature), so the spread is mostly the harness hosting many subscribers per process: a subscription alone in its process (the mTLS server's, all rounds) had it at ${alone}; ${where}`,
  });
  record({ name: `revocation reach, push: ${SUBSCRIBERS} subscriptions`, metric: 'p50, ca revoke returned → verified event', unit: 'ms', value: percentile(push, 50), target: { kind: 'max', value: 2000 } });
  record({
    name: `revocation reach, push: ${MEMORY_SUBSCRIBERS} subscriptions in ${LOADERS} processes, ${big.length} revocations`,
    metric: 'p99, ca revoke returned → verified event',
    unit: 'ms',
    value: percentile(pushBig, 99),
    target: { kind: 'max', value: 2000 },
    note: `${pushBig.length} arrivals; ${summary(pushBig)}; ${missed} missed over all rounds; each of the ${LOADERS} processes handles ${MEMORY_SUBSCRIBERS / LOADERS} events per revocation in turn, ${gap(big)} ms apart (median), on the same 2 cores as the CA: the tail is the subscriber hosts' CPU, not the CA's fan-out`,
  });
  record({
    name: 'revocation reach to refusal: meshca/tls server subscribed (fromFiles with caUrl)',
    metric: 'p99, ca revoke returned → new handshake refused',
    unit: 'ms',
    value: percentile(refusedMs, 99),
    target: { kind: 'max', value: 2000 },
    note: `${counted.length} revocations; refused: ${summary(refusedMs)}; the victim's open connection closed by the server: ${summary(closedMs)}; the victim makes a new connection every 20 ms (+ handshake), so refusal lags the server's arrival by up to that; times taken in the server's onRefused`,
  });
  record({ name: "revocation reach: the CA's own OCSP (POST /ocsp, no nonce)", metric: 'p99, ca revoke returned → verified revoked answer', unit: 'ms', value: percentile(ocspMs, 99), target: { kind: 'max', value: 1000 }, note: `${counted.length} revocations; ${summary(ocspMs)}; asked once before the revocation (so a pre-signed "good" was cached), then polled every 10 ms on a kept-alive connection from the harness; the responder's cache is dropped for a serial when the service reads its revocation` });
  record({ name: "revocation reach: the CA's own CRL (/crl/intermediate.crl)", metric: 'p99, ca revoke returned → signed CRL lists it', unit: 'ms', value: percentile(crlMs, 99), target: { kind: 'max', value: 1000 }, note: `${counted.length} revocations; ${summary(crlMs)}; polled every 10 ms; the service re-signs the CRL when it reads a revocation from its log` });
  record({
    name: `revocation reach: CRL-polling relying parties, poll every ${POLL_MS / 1000} s (${POLLERS} parties, random phase)`,
    metric: 'p99, ca revoke returned → first fetched CRL listing it',
    unit: 'ms',
    value: percentile(polled, 99),
    target: { kind: 'max', value: POLL_MS + 1000 },
    note: `${polled.length} (party, revocation) pairs: ${summary(polled)}, mean ${round(meanPolled, 0)} ms; model: publication delay d (CRL p50 above, ${round(crlDelay, 0)} ms) + the period's phase, mean d + P/2 = ${round(ideal.mean, 0)} ms, worst d + P = ${round(ideal.worst, 0)} ms; at a 60 s period the same model gives mean ~${round((crlDelay + 30_000) / 1000, 1)} s, worst ~${round((crlDelay + 60_000) / 1000, 1)} s, and a party that refetches only at the CRL's nextUpdate (24 h by default) up to a day; target: the period plus the CA's own 1 s`,
  });
  record({ name: `revocation reach: CRL-polling relying parties, poll every ${POLL_MS / 1000} s`, metric: 'p50, ca revoke returned → first fetched CRL listing it', unit: 'ms', value: percentile(polled, 50), target: { kind: 'max', value: POLL_MS / 2 + 1000 } });
  record({
    name: `revocation stream: the CA's memory per subscription, at ${MEMORY_SUBSCRIBERS} subscriptions`,
    metric: 'RSS growth / subscription',
    unit: 'kB',
    value: perSubKb,
    peer: { name: `plain node:https holding ${MEMORY_SUBSCRIBERS} idle mTLS connections`, value: plainPerConnKb },
    target: { kind: 'max', value: 50 },
    note: `ca serve's VmRSS (median of 5 samples after settling) ${round(idle.rssKb / 1024, 1)} MB with 1 subscription (a freshly started service) → ${round(half.rssKb / 1024, 1)} MB with ${half.subscribers} → ${round(full.rssKb / 1024, 1)} MB with ${full.subscribers} (meshca_revocation_stream_subscribers); JS heap used ${round(idle.heapKb / 1024, 1)} → ${round(full.heapKb / 1024, 1)} MB (${round(perSubHeapKb, 1)} kB per subscription), the rest is TLS and socket buffers outside the heap; from ${MEMORY_SUBSCRIBERS / 2} to ${MEMORY_SUBSCRIBERS}: ${round(marginalKb, 1)} kB each; ${MEMORY_SUBSCRIBERS} mTLS handshakes opened in ${round(openMs / 1000, 1)} s from ${LOADERS} processes; the peer, plain node:https with the same certificates and an open text/event-stream answer, grew ${round(plainIdle / 1024, 1)} → ${round(plainFull / 1024, 1)} MB; after closing 800 of them (${afterClose.subscribers} subscribers left) RSS was ${round(afterClose.rssKb / 1024, 1)} MB, heap ${round(afterClose.heapKb / 1024, 1)} MB`,
  });
  if (process.env.BENCH_TRACE) log(`opened: ${JSON.stringify(opened)}`);
}

// ---------------------------------------------------------------------------------------------------------
async function acmeIssuance() {
  log('scenario: full ACME issuances (new order, http-01 validation, finalize, download) with acme-client, c=8');
  const acme = await import('acme-client');
  const CONCURRENCY = 8;
  // The http-01 answers come from this process, for both servers; the identifier is bench.acme.test, which both
  // servers resolve to 127.0.0.1 (meshca through config.json acme.resolve, Pebble through pebble-challtestsrv's DNS),
  // so each validation is one HTTP connection to the same place.
  const NAME = 'bench.acme.test';
  const answers = new Map();
  const web = http.createServer((req, res) => {
    const body = answers.get((req.url ?? '').split('/').pop());
    res.writeHead(body === undefined ? 404 : 200).end(body ?? '');
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  const httpPort = web.address().port;
  // A pool of CSRs made before the clock starts (the same key may be certified again, as on a renewal).
  const pool = await Promise.all(Array.from({ length: 32 }, async () => (await acme.crypto.createCsr({ commonName: NAME, altNames: [NAME] }, await acme.crypto.createPrivateEcdsaKey()))[1]));
  // acme-client polls a processing challenge or order; its default back-off (5 s first) would measure the client.
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  acme.axios.defaults.httpsAgent = agent;
  const run = async (directoryUrl, eab, serverPid) => {
    const clients = await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      const c = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: eab, backoffMin: 5, backoffMax: 50, backoffAttempts: 200 });
      await c.createAccount({ termsOfServiceAgreed: true });
      return c;
    }));
    const once = (c, i) => c.auto({
      csr: pool[i % pool.length],
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      challengeCreateFn: async (_a, ch, ka) => void answers.set(ch.token, ka),
      challengeRemoveFn: async (_a, ch) => void answers.delete(ch.token),
    });
    let done = 0;
    let failed = 0;
    let firstError;
    const latencies = [];
    const loop = async (c, w, until, counting) => {
      for (let i = w; Date.now() < until; i += CONCURRENCY) {
        const t = performance.now();
        try {
          await once(c, i);
          if (counting) (done++, latencies.push(performance.now() - t));
        } catch (e) {
          failed++;
          firstError ??= e.message;
        }
      }
    };
    await Promise.all(clients.map((c, w) => loop(c, w, Date.now() + WARMUP * 1000, false)));
    const started = Date.now();
    const cpu0 = procCpuMs(serverPid);
    await Promise.all(clients.map((c, w) => loop(c, w, started + DURATION * 1000, true)));
    return { rate: done / ((Date.now() - started) / 1000), p99: percentile(latencies, 99), failed, firstError, cpuPerIssuance: (procCpuMs(serverPid) - cpu0) / Math.max(1, done) };
  };

  const dir = newCa('acme');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, acme: { resolve: { [NAME]: '127.0.0.1' }, ports: { http01: httpPort } } }));
  const key = JSON.parse(ca('acme', 'eab', 'create', '--dir', dir, '--name', 'bench', '--scope', `issue:dns:${NAME}`, '--json'));
  const serve = await startServe(dir);
  let meshca;
  try {
    meshca = await run(`https://127.0.0.1:${serve.httpsPort}/acme/directory`, { kid: key.kid, hmacKey: key.hmacKey }, serve.child.pid);
  } finally {
    serve.stop();
  }
  const issued = JSON.parse(ca('list', '--dir', dir, '--json')).length;

  // Pebble (Let's Encrypt's ACME test server, Debian's package): the same flow against a server that keeps its
  // state in memory, writes nothing to disk and audits nothing. Its random validation delay, nonce rejection and
  // authorization reuse are turned off, so every order is validated over http-01 as meshca's are.
  let pebble = null;
  if (spawnSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv']).status === 0) {
    const pdir = join(work, 'pebble');
    mkdirSync(pdir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2', '-keyout', join(pdir, 'key.pem'), '-out', join(pdir, 'cert.pem')], { stdio: 'ignore' });
    const { createServer } = await import('node:net');
    const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
    const [apiPort, mgmtPort, tlsPort, dnsPort, dnsMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const dns = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmtPort}`, '-defaultIPv6', ''], { stdio: 'ignore' });
    children.add(dns);
    const hmac = randomBytes(32).toString('base64url');
    writeFileSync(join(pdir, 'config.json'), JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${apiPort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`, certificate: join(pdir, 'cert.pem'), privateKey: join(pdir, 'key.pem'), httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: true, externalAccountMACKeys: { bench: hmac } } }));
    const child = spawn('pebble', ['-config', join(pdir, 'config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], { env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' }, stdio: 'ignore' });
    children.add(child);
    try {
      await waitForPort(apiPort);
      pebble = await run(`https://127.0.0.1:${apiPort}/dir`, { kid: 'bench', hmacKey: hmac }, child.pid);
    } catch (e) {
      log(`pebble could not be measured: ${e.message}`);
    } finally {
      for (const c of [child, dns]) (c.kill('SIGTERM'), children.delete(c));
    }
  }
  web.close();
  agent.destroy();
  if (meshca.firstError || pebble?.firstError) log(`ACME errors: meshca: ${meshca.firstError}; pebble: ${pebble?.firstError}`);
  const note = `8 acme-client workers, each its own account (made before the clock starts), keep-alive; per issuance: newOrder, the authorization, the challenge answered and validated by the CA over http-01 (one HTTP connection to 127.0.0.1), polling every 5-50 ms, finalize, download. meshca: SQLite synchronous=FULL, every nonce, order, authorization and challenge stored, the leaf linted, stored and audited (${issued} certificates listed afterwards), ${round(meshca.cpuPerIssuance, 1)} ms of CA CPU per issuance; ${meshca.failed} failed${meshca.firstError ? ` (first: ${meshca.firstError})` : ''}. Pebble keeps everything in memory and audits nothing${pebble ? `; ${round(pebble.cpuPerIssuance, 1)} ms of CPU per issuance, ${pebble.failed} failed` : ''}. The client process takes most of a core: on 2 cores the figure is bounded by client and server together`;
  record({ name: 'ACME full issuance with acme-client, c=8', metric: 'certificates/s', unit: '/s', value: meshca.rate, peer: pebble ? { name: 'pebble (in memory)', value: pebble.rate } : null, target: { kind: 'ratioMin', value: 1 }, note });
  record({ name: 'ACME full issuance with acme-client, c=8', metric: 'p99 latency', unit: 'ms', value: meshca.p99, peer: pebble ? { name: 'pebble (in memory)', value: pebble.p99 } : null, target: { kind: 'ratioMax', value: 1 } });
}

const only = process.argv[2];
const all = { issuanceOverApi, issuancePostgres, renewal, issuanceInProcess, ocsp, crl, handshakes, renewalFleet, revocationReach, acmeIssuance, cliStartup };
if (only && !(only in all)) {
  console.error(`bench: unknown scenario ${only} (one of ${Object.keys(all).join(', ')})`);
  process.exit(2);
}
/** Scenarios that threw: their entries from the last results are kept, and the exit code is 1. */
const failed = [];
for (const [name, fn] of Object.entries(all)) {
  if (only && only !== name) continue;
  current = name;
  const before = scenarios.length;
  try {
    await fn();
  } catch (e) {
    log(`scenario ${name} failed: ${e.stack ?? e}`);
    scenarios.splice(before);
    failed.push(name);
  }
}

// Running one scenario replaces its entries in the last results and keeps the others (each entry has its date).
for (const e of scenarios) e.date = new Date().toISOString();
// A scenario that was not run, or failed, keeps the entries of the last results.
const ran = new Set(Object.keys(all).filter((n) => (!only || only === n) && !failed.includes(n)));
let kept = [];
try {
  kept = JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')).scenarios.filter((e) => !ran.has(e.scenario));
} catch {
  kept = [];
}
const order = Object.keys(all);
const merged = [...kept, ...scenarios].sort((a, b) => order.indexOf(a.scenario) - order.indexOf(b.scenario));
scenarios.length = 0;
scenarios.push(...merged);
const results = { date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, seconds_per_run: DURATION, scenarios };
writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
const pad = (s, n) => String(s).padEnd(n);
console.log(`\nmeshca bench — ${results.date}, ${results.cores} cores (${results.cpu}), Node ${results.node}\n`);
console.log(`${pad('scenario', 72)} ${pad('metric', 34)} ${pad('meshca', 12)} ${pad('peer', 12)} ${pad('ratio', 7)} met`);
for (const s of scenarios) {
  console.log(`${pad(s.name, 72)} ${pad(s.metric, 34)} ${pad(`${s.value} ${s.unit}`, 12)} ${pad(s.peer ? s.peer.value.toFixed?.(1) ?? s.peer.value : '-', 12)} ${pad(s.ratio ?? '-', 7)} ${s.met ? 'yes' : 'NO'}`);
}
const met = scenarios.filter((s) => s.met).length;
console.log(`\n${met} of ${scenarios.length} targets met; details in bench/results.json`);
if (failed.length > 0) console.log(`FAILED: ${failed.join(', ')} (their entries are from the previous results)`);
process.exit(failed.length > 0 ? 1 : 0);
