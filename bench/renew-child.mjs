// Benchmark child for renewal throughput over mTLS: `PORT MODE CONCURRENCY SECONDS CREDS.json` renews as fast as the
// service answers, CONCURRENCY renewals in flight, and prints { ok, failed, reasons, seconds, p50, p99, cpuSeconds, openMs }.
//   held:  every credential in CREDS.json has its own mTLS connection, opened (handshake and a GET /healthz) before
//          the clock starts (it prints {"op":"opened"} and waits for a line on stdin); then each is renewed once on its open connection. This is the renewal's own work on the
//          CA (no CSR: the key was proved by the handshake), as `POST /v1/sign` on a kept-alive connection is the
//          signing's. Ends when every credential is renewed.
//   fresh: each of CONCURRENCY workers holds one credential and renews in a loop, each time over a new mTLS connection
//          with the certificate it got back, as a fleet does: the handshake on both sides is counted. Ends after SECONDS.

import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';

const [port, mode, concurrency, seconds, credsPath] = process.argv.slice(2);
const creds = JSON.parse(readFileSync(credsPath, 'utf8'));
const C = Number(concurrency);
const reasons = {};
const latencies = [];
let ok = 0;
let failed = 0;

function request(options, body) {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false, ...options }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', (e) => resolve({ status: 0, text: e.code ?? e.message }));
    req.end(body);
  });
}

async function renew(options) {
  const t = performance.now();
  const r = await request({ ...options, path: '/v1/renew', method: 'POST', headers: { 'content-length': 0 } });
  latencies.push(performance.now() - t);
  if (r.status === 201) {
    ok++;
    return JSON.parse(r.text).certificate;
  }
  failed++;
  const code = (() => { try { return JSON.parse(r.text).error.code; } catch { return `HTTP ${r.status} ${r.text.slice(0, 60)}`; } })();
  reasons[code] = (reasons[code] ?? 0) + 1;
  return undefined;
}

/** Runs `worker(k)` for k in 0..C-1 concurrently. */
const pool = (worker) => Promise.all(Array.from({ length: C }, (_, k) => worker(k)));

let openMs = 0;
let started;
let cpu0;
if (mode === 'held') {
  const agents = creds.map(({ cert, key }) => new https.Agent({ cert, key, keepAlive: true, maxSockets: 1, rejectUnauthorized: false }));
  const opening = performance.now();
  let next = 0;
  await pool(async () => {
    for (let i = next++; i < agents.length; i = next++) {
      const r = await request({ agent: agents[i], path: '/healthz' });
      if (r.status !== 200) throw new Error(`opening connection ${i}: ${r.status} ${r.text}`);
    }
  });
  openMs = performance.now() - opening;
  // Every loader opens its connections first; the parent starts the clock for all of them at once.
  console.log(JSON.stringify({ op: 'opened' }));
  await new Promise((resolve) => process.stdin.once('data', resolve));
  started = performance.now();
  cpu0 = process.cpuUsage();
  next = 0;
  await pool(async () => {
    for (let i = next++; i < agents.length; i = next++) await renew({ agent: agents[i] });
  });
  for (const a of agents) a.destroy();
} else {
  const end = performance.now() + Number(seconds) * 1000;
  started = performance.now();
  cpu0 = process.cpuUsage();
  await pool(async (k) => {
    let { cert, key } = creds[k % creds.length];
    while (performance.now() < end) {
      const fresh = await renew({ agent: false, secureContext: createSecureContext({ cert, key }) });
      if (fresh) cert = fresh;
    }
  });
}
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
const pct = (p) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
console.log(JSON.stringify({ ok, failed, reasons, seconds: elapsed, p50: pct(50), p99: pct(99), cpuSeconds: (cpu.user + cpu.system) / 1e6, openMs }));
process.exit(0);
