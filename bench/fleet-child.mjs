// Benchmark child for the renewal fleet: `PORT RATE WARMUP SECONDS CRED...` renews at a fixed overall RATE/s over mTLS,
// each credential (cert.pem:key.pem) one service, requests spread with jitter. Like a real service, each moves to the
// certificate it got back: the next renewal is a new mTLS connection with it, and the CA signs a new successor each
// time (renewing the same certificate again would get the successor it already has, which signs nothing).
// Prints { sent, ok, failed, p50, p99, worstP99 } for the requests scheduled after WARMUP seconds (the first
// handshakes and JIT), in ms measured from each request's scheduled time, so queueing counts.

import https from 'node:https';
import { readFileSync } from 'node:fs';

const [port, rate, warmup, seconds, ...creds] = process.argv.slice(2);
const services = creds.map((c) => {
  const [cert, key] = c.split(':');
  const keyPem = readFileSync(key);
  return { key: keyPem, agent: new https.Agent({ cert: readFileSync(cert), key: keyPem, rejectUnauthorized: false, keepAlive: true, maxSockets: 1 }), latencies: [] };
});
const interval = (services.length / Number(rate)) * 1000; // each service renews every `interval` ms
let end = Infinity;
let sent = 0;
let ok = 0;
let failed = 0;
const inflight = new Set();

let measureFrom = Infinity;
/** Why renewals failed, by error code. */
const reasons = {};
function renew(s, scheduled) {
  const counted = scheduled >= measureFrom;
  if (counted) sent++;
  const done = new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port: Number(port), path: '/v1/renew', method: 'POST', agent: s.agent, headers: { 'content-length': 0 } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 201) {
          const old = s.agent;
          s.agent = new https.Agent({ cert: JSON.parse(body).certificate, key: s.key, rejectUnauthorized: false, keepAlive: true, maxSockets: 1 });
          // Its connection is done with: closed once idle (a request still on it finishes first).
          setTimeout(() => old.destroy(), 2_000);
        }
        if (counted) {
          if (res.statusCode === 201) ok++;
          else {
            failed++;
            const code = (() => { try { return JSON.parse(body).error.code; } catch { return `HTTP ${res.statusCode}`; } })();
            reasons[code] = (reasons[code] ?? 0) + 1;
          }
          s.latencies.push(performance.now() - scheduled);
        }
        if (process.env.FLEET_TRACE && counted) console.error(`${Math.round(scheduled - start)} ${Math.round(performance.now() - scheduled)}`);
        resolve();
      });
    });
    req.on('error', (e) => {
      if (counted) {
        failed++;
        reasons[e.code ?? e.message] = (reasons[e.code ?? e.message] ?? 0) + 1;
      }
      resolve();
    });
    req.end();
  });
  inflight.add(done);
  done.then(() => inflight.delete(done));
  return done;
}

// Each service connects (one mTLS handshake) and renews once before the clock starts, as a running fleet has.
await Promise.all(services.map((s) => renew(s, -Infinity)));
const start = performance.now();
measureFrom = start + Number(warmup) * 1000;
end = Date.now() + (Number(warmup) + Number(seconds)) * 1000;
for (const s of services) {
  // a random phase, then every interval ±10% jitter, like renewal daemons spread over the fleet
  let next = start + Math.random() * interval;
  const tick = () => {
    if (Date.now() >= end) return;
    // A renewal daemon renews one certificate at a time: a tick that finds the last renewal still running waits for it.
    if (s.busy) {
      s.busy.then(() => setTimeout(tick, 0));
      return;
    }
    s.busy = renew(s, next).then(() => (s.busy = undefined));
    next += interval * (0.9 + Math.random() * 0.2);
    setTimeout(tick, Math.max(0, next - performance.now()));
  };
  setTimeout(tick, next - start);
}
await new Promise((r) => setTimeout(r, (Number(warmup) + Number(seconds)) * 1000 + 50));
await Promise.all(inflight);
const pct = (xs, p) => {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const all = services.flatMap((s) => s.latencies);
console.log(JSON.stringify({ reasons, sent, ok, failed, p50: pct(all, 50), p99: pct(all, 99), worstP99: Math.max(...services.map((s) => pct(s.latencies, 99))) }));
process.exit(0);
