// A relying party in a process of its own for the push tests: a meshca/tls source enrolled from the CA (subscribed
// to its revocation stream), holding one mTLS connection open to each server and reconnecting when one closes.
// Reports what happens as JSON lines on stdout: ready, connected, closed, failed, refused.

import { request } from 'node:https';
import { authorize, CertificateSource, createMtlsAgent, peerIdentity } from '../../dist/src/tls/index.js';

const [caUrl, caBundle, dir, token, trustDomain, ...ports] = process.argv.slice(2);
const say = (o) => process.stdout.write(`${JSON.stringify({ ...o, t: Date.now() })}\n`);
const source = await CertificateSource.fromCA({ caUrl, caBundle, dir, token });
source.on('error', (e) => say({ event: 'error', code: e.code, message: e.message }));
const agent = createMtlsAgent({
  source,
  authorize: authorize.memberOf(trustDomain),
  keepAlive: true,
  onRefused: (r) => say({ event: 'refused', code: r.code, reason: r.reason, peer: r.peer?.serial ?? null }),
});
say({ event: 'ready', serial: source.identity.serial });

function hold(port) {
  let done = false;
  const again = (what) => {
    if (done) return;
    done = true;
    say({ event: what.event, port, ...what });
    setTimeout(() => hold(port), 200);
  };
  const req = request({ host: '127.0.0.1', port, path: '/hold', agent }, (res) => {
    say({ event: 'connected', port, server: peerIdentity(res.socket)?.serial ?? null });
    res.on('data', () => {});
    res.on('close', () => again({ event: 'closed' }));
    res.on('error', () => again({ event: 'closed' }));
  });
  req.on('error', (e) => again({ event: 'failed', code: e.code ?? null }));
  req.end();
}
for (const p of ports) hold(Number(p));
process.on('SIGTERM', () => process.exit(0));
