// `make soak` load: a fixed-rate mix of sign, renew, OCSP and CRL requests against one `ca serve` for
// SOAK_SECONDS (default 600). Fails on any 5xx or timeout, or resident memory that keeps growing after warm-up.
// Appends its figures to $MESHCA_FIGURES (one JSON line) for test/soak/report.mjs.

import 'reflect-metadata';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CA_BIN = join(ROOT, 'dist/cmd/ca.js');
const dist = (p) => import(join(ROOT, 'dist/src', p));
const { createCsr } = await dist('pki/csr.js');
const { toPem, readPemLabelled } = await dist('crypto/pem.js');
const { generateKeyPair, privateKeyToPem } = await dist('crypto/keys.js');
const { readCertificate } = await dist('pki/certificate.js');
const { ocspRequestFor } = await dist('revocation/ocsp-verify.js');

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const WARMUP = Math.min(60, Math.round(SECONDS / 5));
const RATES = { sign: 40, renew: 40, ocsp: 300, crl: 10, revoke: 1 }; // requests per second
const TD = 'soak.internal';
const work = mkdtempSync(join(tmpdir(), 'meshca-soak-'));
const ca = (...args) => execFileSync(process.execPath, [CA_BIN, ...args], { encoding: 'utf8' });
const log = (...a) => console.error('soak:', ...a);

const dir = join(work, 'ca');
ca('init', '--dir', dir, '--name', 'Soak CA', '--trust-domain', TD);
const apiKey = ca('apikey', 'create', '--dir', dir, '--name', 'soak', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke`).trim();
const logPath = join(work, 'serve.log');
const fd = openSync(logPath, 'w');
const svc = spawn(process.execPath, [CA_BIN, 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--rate-limit', '100000'], { stdio: ['ignore', fd, fd] });
closeSync(fd);
process.on('exit', () => {
  svc.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
let ports;
for (let i = 0; i < 200 && !ports; i++) {
  await new Promise((r) => setTimeout(r, 50));
  const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
  if (line) ports = { https: JSON.parse(line).https.port, http: JSON.parse(line).http.port };
}
if (!ports) throw new Error('ca serve did not start');
const caPem = readFileSync(join(dir, 'root.pem'), 'utf8');
const issuer = readCertificate(readPemLabelled(readFileSync(join(dir, 'intermediate.pem'), 'utf8'), ['CERTIFICATE'], 'i')[0]);

const TIMEOUT = 10_000;
// Idle client sockets close after 4 s, before the service's 5 s keep-alive timeout: otherwise a request sent on a
// socket the service is closing at that moment fails with "socket hang up" (a client-side race every HTTP/1.1
// client has; real clients retry idempotent requests, and the soak counts every failure).
const IDLE = { keepAlive: true, timeout: 4_000 };
const bearerAgent = new https.Agent({ ...IDLE, ca: caPem, maxSockets: 16 });
const plainAgent = new http.Agent({ ...IDLE, maxSockets: 16 });
function send(kind, lib, options, body) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = lib.request({ host: '127.0.0.1', timeout: TIMEOUT, ...options }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ kind, status: res.statusCode, ms: performance.now() - started, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => resolve({ kind, status: e.code === 'ETIMEDOUT' ? 'timeout' : 'error', ms: performance.now() - started, error: e.message }));
    req.end(body);
  });
}

// A fleet to renew (each its own mTLS connection) and serials to ask OCSP about.
const signBody = (name) => {
  const key = generateKeyPair('ec-p256').privateKey;
  return { key, body: JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(key, name)), name, spiffeId: `spiffe://${TD}/${name}` }) };
};
const sign = (name) => {
  const { key, body } = signBody(name);
  return send('sign', https, { port: ports.https, path: '/v1/sign', method: 'POST', agent: bearerAgent, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } }, body).then((r) => ({ ...r, key }));
};
const fleet = [];
for (let i = 0; i < 20; i++) {
  const r = await sign(`fleet-${i}`);
  if (r.status !== 201) throw new Error(`fleet enrollment failed: ${r.status} ${r.body}`);
  const cert = JSON.parse(r.body).certificate;
  fleet.push(member(cert, privateKeyToPem(r.key)));
}
/** A fleet member presenting `cert` on its own keep-alive mTLS connection. */
function member(cert, keyPem) {
  return { agent: new https.Agent({ ...IDLE, maxSockets: 2, ca: caPem, cert, key: keyPem }), keyPem, leaf: readCertificate(readPemLabelled(cert, ['CERTIFICATE'], 'leaf')[0]) };
}
const revocable = [];

const stats = {};
for (const kind of Object.keys(RATES)) stats[kind] = { sent: 0, ok: 0, c4xx: 0, c5xx: 0, timeouts: 0, errors: 0, latencies: [], why: {} };
const rss = [];
const pending = new Set();
let n = 0;
const fire = {
  sign: () => sign(`s-${n++}`).then((r) => {
    if (r.status === 201) revocable.push(JSON.parse(r.body).serial);
    return r;
  }),
  // A member renews with its newest certificate, as a real client does (renewing one certificate twice after
  // the CA's renewalGrace is refused as a fork of its lineage).
  renew: () => {
    const i = n++ % fleet.length;
    const current = fleet[i];
    return send('renew', https, { port: ports.https, path: '/v1/renew', method: 'POST', agent: current.agent, headers: { 'content-type': 'application/json' } }, '{}').then((r) => {
      if (r.status === 201 && fleet[i] === current) {
        fleet[i] = member(JSON.parse(r.body).certificate, current.keyPem);
        // Not at once: a renewal fired a moment ago may still be on this connection.
        setTimeout(() => current.agent.destroy(), 5_000).unref();
      }
      return r;
    });
  },
  ocsp: () => {
    const { der } = ocspRequestFor(fleet[n++ % fleet.length].leaf, issuer);
    // two thirds without a nonce (cacheable), one third with one (signed per request)
    const body = n % 3 === 0 ? der : ocspNoNonce[n % ocspNoNonce.length];
    return send('ocsp', http, { port: ports.http, path: '/ocsp', method: 'POST', agent: plainAgent, headers: { 'content-type': 'application/ocsp-request' } }, body);
  },
  crl: () => send('crl', http, { port: ports.http, path: '/crl/intermediate.crl', method: 'GET', agent: plainAgent }),
  revoke: () => {
    const serial = revocable.shift();
    if (!serial) return Promise.resolve(null);
    return send('revoke', https, { port: ports.https, path: `/v1/certificates/${serial}/revoke`, method: 'POST', agent: bearerAgent, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } }, '{"reason":"superseded"}');
  },
};
const { createOcspRequest } = await dist('revocation/ocsp.js');
const { readPublicKeyInfo } = await dist('crypto/keys.js');
const ocspNoNonce = fleet.map((f) => createOcspRequest({ issuerSubject: issuer.subject, issuerKeyBits: readPublicKeyInfo(issuer.spki).keyBytes, serial: Buffer.from(f.leaf.serial, 'hex') }));

log(`running ${SECONDS} s at ${JSON.stringify(RATES)} (warm-up ${WARMUP} s)`);
const start = performance.now();
/** Requests fired so far, per kind. */
const owed = Object.fromEntries(Object.keys(RATES).map((k) => [k, 0]));
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed >= SECONDS) {
      clearInterval(tick);
      resolve();
      return;
    }
    const measuring = elapsed >= WARMUP;
    for (const [kind, rate] of Object.entries(RATES)) {
      // Fire what the clock says is due, so timer drift never lowers the rate.
      while (owed[kind] < rate * elapsed) {
        owed[kind] += 1;
        const p = fire[kind]().then((r) => {
          if (!r || !measuring) return;
          const s = stats[kind];
          s.sent++;
          // What went wrong, by error code or socket error, so a failed soak says why.
          const why = (w) => (s.why[w] = (s.why[w] ?? 0) + 1);
          if (r.status === 'timeout') s.timeouts++;
          else if (r.status === 'error') (s.errors++, why(r.error));
          else if (r.status >= 500) (s.c5xx++, why(`${r.status}`));
          else if (r.status >= 400) (s.c4xx++, why(`${r.status} ${/"code":"(\w+)"/.exec(r.body.toString())?.[1] ?? ''}`));
          else {
            s.ok++;
            s.latencies.push(r.ms);
          }
        });
        pending.add(p);
        p.finally(() => pending.delete(p));
      }
    }
  }, 10);
  const sample = setInterval(() => {
    // RssAnon is the heap and other private memory, where a leak shows; RssFile grows with the database's
    // memory-mapped pages (the first 128 MiB of ca.db), which is page cache, not a leak.
    const status = readFileSync(`/proc/${svc.pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    rss.push({ t: Math.round((performance.now() - start) / 1000), mb: Math.round(kb('RssAnon') / 1024), totalMb: Math.round(kb('VmRSS') / 1024) });
    if (rss.length % 12 === 0) log(`${rss.at(-1).t} s: RSS ${rss.at(-1).totalMb} MB (anonymous ${rss.at(-1).mb} MB), ${Object.entries(stats).map(([k, s]) => `${k} ${s.ok}`).join(', ')}`);
  }, 5000);
  setTimeout(() => clearInterval(sample), SECONDS * 1000);
});
await Promise.all(pending);
svc.kill('SIGTERM');

const pct = (xs, p) => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
const kinds = Object.fromEntries(Object.entries(stats).map(([k, s]) => [k, { rate: Math.round((s.sent / (SECONDS - WARMUP)) * 10) / 10, sent: s.sent, ok: s.ok, '4xx': s.c4xx, '5xx': s.c5xx, timeouts: s.timeouts, errors: s.errors, p50: Math.round(pct(s.latencies, 50) * 10) / 10, p99: Math.round(pct(s.latencies, 99) * 10) / 10, ...(Object.keys(s.why).length > 0 ? { why: s.why } : {}) }]));
// Memory: the mean of the first minute after warm-up against the mean of the last minute.
const after = rss.filter((r) => r.t >= WARMUP);
const window = Math.max(1, Math.min(12, Math.floor(after.length / 3)));
const mean = (xs) => xs.reduce((a, r) => a + r.mb, 0) / xs.length;
const early = mean(after.slice(0, window));
const late = mean(after.slice(-window));
const figures = { test: 'soak', at: new Date().toISOString(), seconds: SECONDS, warmupSeconds: WARMUP, rates: RATES, kinds, rssMb: { afterWarmup: Math.round(early), end: Math.round(late), peak: Math.max(...rss.map((r) => r.mb)), totalAfterWarmup: after[0]?.totalMb, totalEnd: rss.at(-1)?.totalMb }, dbMb: Math.round(statSync(join(dir, 'ca.db')).size / 1048576) };
if (process.env.MESHCA_FIGURES) appendFileSync(process.env.MESHCA_FIGURES, `${JSON.stringify(figures)}\n`);
console.log(JSON.stringify(figures, null, 2));
const bad = Object.entries(kinds).filter(([, k]) => k['5xx'] > 0 || k.timeouts > 0 || k.errors > 0 || k['4xx'] > 0);
const leak = late > early * 1.15 + 10;
if (bad.length > 0) log(`FAILED: ${bad.map(([k, v]) => `${k}: ${v['5xx']} 5xx, ${v.timeouts} timeouts, ${v.errors} errors, ${v['4xx']} 4xx`).join('; ')}`);
if (leak) log(`FAILED: anonymous resident memory grew from ${Math.round(early)} MB to ${Math.round(late)} MB after warm-up`);
process.exit(bad.length > 0 || leak ? 1 : 0);
