// meshca benchmarks: each scenario bounded in time, peers measured in the same run, results in bench/results.json.
// Run with `make bench` (it builds meshca and installs openssl and golang-cfssl from Debian when missing).

import 'reflect-metadata';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  const child = spawn(process.execPath, [CA_BIN, 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...limits, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  for (let i = 0; i < 200; i++) {
    const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { https: h, http } = JSON.parse(line);
      return { child, httpsPort: h.port, httpPort: http.port, stop: () => { child.kill('SIGTERM'); children.delete(child); } };
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

function cannon(opts) {
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
  const acknowledged = (results[1]['2xx'] ?? 0) + (results[32]['2xx'] ?? 0);

  // cfssl serve on the same CSRs (its default, no database: it records nothing)
  let cfssl = null;
  try {
    const cdir = join(work, 'cfssl');
    mkdirSync(cdir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(cdir, 'k.pem'), '-out', join(cdir, 'ca.pem'), '-subj', '/CN=cfssl bench', '-days', '30'], { stdio: 'ignore' });
    execFileSync('openssl', ['ec', '-in', join(cdir, 'k.pem'), '-out', join(cdir, 'ca-key.pem')], { stdio: 'ignore' });
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(cdir, 'ca.pem'), '-ca-key', join(cdir, 'ca-key.pem'), '-loglevel', '5'], { stdio: 'ignore' });
    children.add(child);
    await waitForPort(port);
    const cbodies = bodies.map((b) => JSON.stringify({ certificate_request: JSON.parse(b).csr, hosts: [JSON.parse(b).dnsNames[0]] }));
    cfssl = {};
    for (const c of [1, 32]) {
      let i = 0;
      cfssl[c] = await cannon({ url: `http://127.0.0.1:${port}/api/v1/cfssl/sign`, connections: c, requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: cbodies[i++ % cbodies.length] }) }] });
    }
    child.kill();
  } catch (e) {
    log('cfssl not measured:', e.message);
  }
  const ceiling = await signatureCeiling();
  const c1 = `c=1: ${round(okRate(results[1]), 1)}/s (p50 ${results[1].latency.p50} ms, p99 ${results[1].latency.p99} ms)${cfssl ? ` vs cfssl ${round(okRate(cfssl[1]), 1)}/s` : ''}, bound by one fsync per request`;
  const note = `durably recorded and audited: ${stored} certificates stored and ${audited} audit rows for ${acknowledged} acknowledged (HTTPS, API key, synchronous=FULL, group commit, ${cpus().length - 1 || 1} signing worker); cfssl over plain HTTP without a database; ${c1}; node:crypto signs ${Math.round(ceiling)} P-256/s in one thread`;
  sqliteIssuance = okRate(results[32]);
  record({ name: 'issuance over the API, c=32', metric: 'certificates/s', unit: '/s', value: okRate(results[32]), peer: cfssl ? { name: 'cfssl serve', value: okRate(cfssl[32]) } : null, target: { kind: 'ratioMin', value: 1.25 }, note });
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
    const acknowledged = (one['2xx'] ?? 0) + (ra['2xx'] ?? 0) + (rb['2xx'] ?? 0);
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
  svc.stop();

  // the openssl ocsp responder on an equivalent index, signing with the intermediate itself
  let peer = null;
  try {
    const rows = leaves.map((s, k) => (k < 20 ? `R\t301231235959Z\t261101000000Z,keyCompromise\t${s.toUpperCase()}\tunknown\t/CN=o${k}` : `V\t301231235959Z\t\t${s.toUpperCase()}\tunknown\t/CN=o${k}`));
    writeFileSync(join(work, 'index.txt'), `${rows.join('\n')}\n`);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn('openssl', ['ocsp', '-index', join(work, 'index.txt'), '-port', String(port), '-rsigner', join(dir, 'intermediate.pem'), '-rkey', join(dir, 'private/intermediate.key'), '-CA', join(dir, 'intermediate.pem'), '-multi', String(cpus().length), '-ignore_err'], { stdio: 'ignore' });
    // -multi forks workers: they must go with their parent, or they keep spinning and skew later scenarios.
    const stop = () => {
      spawnSync('pkill', ['-KILL', '-P', String(child.pid)]);
      child.kill('SIGKILL');
    };
    process.on('exit', stop);
    await waitForPort(port);
    peer = await cannon({ url: `http://127.0.0.1:${port}/`, connections: 32, requests: [{ method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, setupRequest: (r) => ({ ...r, body: reqs[i++ % reqs.length] }) }] });
    stop();
  } catch (e) {
    log('openssl ocsp not measured:', e.message);
  }
  const o = peer ? { name: 'openssl ocsp responder (-multi)', value: okRate(peer) } : null;
  record({ name: 'OCSP GET, cacheable (no nonce)', metric: 'responses/s', unit: '/s', value: okRate(get), peer: o, target: { kind: 'ratioMin', value: 2 }, note: `p99 ${get.latency.p99} ms; 1/3 revoked serials` });
  record({ name: 'OCSP POST, cacheable (no nonce)', metric: 'responses/s', unit: '/s', value: okRate(post), peer: o, target: { kind: 'ratioMin', value: 2 }, note: `p99 ${post.latency.p99} ms` });
  record({ name: 'OCSP POST with nonce (signed per request)', metric: 'responses/s', unit: '/s', value: okRate(nonce), peer: o, target: { kind: 'ratioMin', value: 1 }, note: `p99 ${nonce.latency.p99} ms` });
}

// ---------------------------------------------------------------------------------------------------------
async function crl() {
  log('scenario 4: CRL');
  for (const n of [10_000, 100_000, 1_000_000]) {
    const dir = newCa(`crl${n}`);
    const r = spawnSync(process.execPath, [join(ROOT, 'bench/crl-child.mjs'), dir, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(r.stderr);
    const { seconds, resign, maxRssMb, out } = JSON.parse(r.stdout);
    const t0 = process.hrtime.bigint();
    execFileSync('openssl', ['crl', '-in', out, '-inform', 'DER', '-noout'], { stdio: 'ignore' });
    const parse = Number(process.hrtime.bigint() - t0) / 1e9;
    // openssl ca -gencrl on an index of the same size
    const odir = join(work, `ossl${n}`);
    mkdirSync(odir);
    const rows = [];
    for (let k = 0; k < n; k++) rows.push(`R\t301231235959Z\t261101000000Z,keyCompromise\t4${k.toString(16).padStart(31, '0').toUpperCase()}\tunknown\t/CN=x`);
    writeFileSync(join(odir, 'index.txt'), `${rows.join('\n')}\n`);
    writeFileSync(join(odir, 'crlnumber'), '01\n');
    writeFileSync(join(odir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${odir}/index.txt\ncrlnumber=${odir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\ncertificate=${dir}/intermediate.pem\nprivate_key=${dir}/private/intermediate.key\n`);
    const t1 = process.hrtime.bigint();
    execFileSync('openssl', ['ca', '-config', join(odir, 'ca.cnf'), '-gencrl', '-out', join(odir, 'crl.pem')], { stdio: 'ignore' });
    const gencrl = Number(process.hrtime.bigint() - t1) / 1e9;
    const peer = { name: 'openssl ca -gencrl', value: gencrl };
    const label = n.toLocaleString('en-US');
    const note = `first build in a fresh process; re-signed by a running service in ${round(resign, 2)} s; peak RSS ${maxRssMb} MB; OpenSSL parses it in ${round(parse, 2)} s`;
    const target = n === 1_000_000 ? { kind: 'max', value: 5 } : n === 100_000 ? { kind: 'ratioMax', value: 0.5 } : { kind: 'ratioMax', value: 1 };
    record({ name: `CRL of ${label} entries`, metric: 'generation time', unit: 's', value: seconds, peer, target, note });
    record({ name: `CRL of ${label} entries, re-signed by the running service`, metric: 'generation time', unit: 's', value: resign, peer, target });
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
  for (const mode of ['plain', 'meshca', 'plain', 'meshca']) {
    const server = spawn(process.execPath, [child, 'server', mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(server);
    const port = await new Promise((r) => server.stdout.once('data', (d) => r(String(d).trim())));
    const r = spawnSync(process.execPath, [child, 'client', mode, dir, port, String(Math.ceil(DURATION / 2))], { encoding: 'utf8' });
    server.kill();
    children.delete(server);
    if (r.status !== 0) throw new Error(r.stderr);
    const { rate: rps, failed } = JSON.parse(r.stdout);
    if (failed > 0) log(`${mode}: ${failed} failed requests`);
    out[mode] = Math.max(out[mode] ?? 0, rps);
  }
  record({ name: 'mTLS new-connection requests (createMtlsServer + createMtlsAgent)', metric: 'requests/s', unit: '/s', value: out.meshca, peer: { name: 'plain https with requestCert, same certificates', value: out.plain }, target: { kind: 'ratioMin', value: 0.95 }, note: 'best of two alternating runs each, 16 concurrent clients, a new TLS connection per request; the helper builds its OpenSSL context once per credential change, while a plain https.Agent given cert/key/ca builds one per connection' });
}

// ---------------------------------------------------------------------------------------------------------
async function renewalFleet() {
  log('scenario 6: renewal fleet');
  const dir = newCa('fleet');
  // Each service renews the same certificate over and over on one kept-alive connection, where a real one would
  // move to the new certificate; the CA refuses a second renewal of a certificate after renewalGrace (a forked
  // lineage), so the bench CA sets a grace longer than any run.
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), renewalGrace: '24h' }, null, 2));
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
  const p99 = Math.max(...results.map((r) => r.p99));
  const worst = Math.max(...results.map((r) => r.worstP99));
  record({ name: 'renewal fleet at 420 renewals/s (1,000,000 services, 1-hour certificates)', metric: 'sustained renewals/s', unit: '/s', value: achieved, target: { kind: 'min', value: target * 0.98 }, note: `service CPU ${round(cpuShare * 100, 1)}% of ${cpus().length} cores; ${failed} failed; p50 ${round(Math.max(...results.map((r) => r.p50)), 1)} ms; worst single service p99 ${round(worst, 1)} ms; latency counted from each request's scheduled time, after ${WARMUP} s of warm-up` });
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
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
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

const only = process.argv[2];
const all = { issuanceOverApi, issuancePostgres, issuanceInProcess, ocsp, crl, handshakes, renewalFleet, cliStartup };
if (only && !(only in all)) {
  console.error(`bench: unknown scenario ${only} (one of ${Object.keys(all).join(', ')})`);
  process.exit(2);
}
for (const [name, fn] of Object.entries(all)) {
  if (only && only !== name) continue;
  current = name;
  try {
    await fn();
  } catch (e) {
    log(`scenario ${name} failed: ${e.stack ?? e}`);
  }
}

// Running one scenario replaces its entries in the last results and keeps the others (each entry has its date).
for (const e of scenarios) e.date = new Date().toISOString();
let kept = [];
if (only) {
  try {
    kept = JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')).scenarios.filter((e) => e.scenario !== only);
  } catch {
    kept = [];
  }
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
process.exit(0);
