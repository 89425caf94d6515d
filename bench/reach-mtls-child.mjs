// Benchmark child for revocation reach "to refusal": `CA_URL ROOT BUNDLE SERVER_CERT SERVER_KEY` runs a meshca/tls
// server whose source (fromFiles with caUrl) is subscribed to the CA's revocation stream. Given a victim on stdin
// ({op:'victim', serial, cert, key}), a client with the victim's certificate holds one connection open (GET /hold)
// and makes a new connection every 20 ms (GET /ping, a full handshake each: the server sends no session tickets).
// Prints {op:'armed'} once the victim is accepted, then {op:'refused', serial, closedAt, refusedAt} with the times
// (Date.now(), ms) the server's guard closed the held connection and first refused a new handshake.

import 'reflect-metadata';
import { once } from 'node:events';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import { authorize, CertificateSource, createMtlsServer } from '../dist/src/tls/index.js';

const [caUrl, rootPath, bundlePath, certPath, keyPath] = process.argv.slice(2);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const source = CertificateSource.fromFiles({ cert: certPath, key: keyPath, ca: bundlePath, caUrl, caBundle: rootPath });
const refusals = [];
const server = createMtlsServer({ source, authorize: authorize.dns('*.bench.internal'), onRefused: (r) => refusals.push({ serial: r.peer?.serial, code: r.code, whileConnected: r.reason.includes('while connected'), t: Date.now() }) }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  if (req.url === '/hold') res.write('held\n');
  else res.end('ok\n');
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address();
while (!source.revocationStream?.connected) await new Promise((r) => setTimeout(r, 25));

/** One request with the victim's credentials on a connection of its own; resolves with the status (0: refused in TLS). */
function ask(v, path, onHeld) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, cert: v.cert, key: v.key, rejectUnauthorized: false }, (res) => {
      if (path === '/hold' && res.statusCode === 200) {
        onHeld?.(res);
        return resolve(200);
      }
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function victim(v) {
  const mine = () => refusals.filter((r) => r.serial === v.serial && r.code === 'revoked');
  let held;
  if ((await ask(v, '/hold', (res) => (held = res))) !== 200 || (await ask(v, '/ping')) !== 200) return say({ op: 'error', serial: v.serial, message: 'the victim was not accepted before its revocation' });
  say({ op: 'armed', serial: v.serial });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const closed = mine().find((r) => r.whileConnected);
    const refused = mine().find((r) => !r.whileConnected);
    if (closed && refused) {
      held?.destroy();
      return say({ op: 'refused', serial: v.serial, closedAt: closed.t, refusedAt: refused.t });
    }
    await ask(v, '/ping');
    await new Promise((r) => setTimeout(r, 20));
  }
  held?.destroy();
  say({ op: 'refused', serial: v.serial, closedAt: mine().find((r) => r.whileConnected)?.t ?? null, refusedAt: mine().find((r) => !r.whileConnected)?.t ?? null });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === 'victim') void victim(cmd);
});
say({ op: 'ready', port });
process.on('SIGTERM', () => process.exit(0));
