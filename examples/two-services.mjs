// Two services that call each other over mTLS with meshca/tls, each allowed to talk only to the other.
// Uses the example PKI in certs-example/ (EXAMPLE keys). Run with `make example`.

import { get } from 'node:https';
import { fileURLToPath } from 'node:url';
import { authorize, CertificateSource, createMtlsAgent, createMtlsServer, peerIdentity } from 'meshca/tls';

const pki = (f) => fileURLToPath(new URL(`../certs-example/${f}`, import.meta.url));
const TD = 'example.meshca.internal';
const ID = { frontend: `spiffe://${TD}/ns/demo/frontend`, backend: `spiffe://${TD}/ns/demo/backend` };

function service(name, peer) {
  const source = CertificateSource.fromFiles({ cert: pki(`services/${name}.pem`), key: pki(`services/${name}.key`), ca: pki('ca/root.pem'), crl: pki('crl/all.crl.pem') });
  const server = createMtlsServer(
    { source, authorize: authorize.id(ID[peer]), onRefused: (r) => console.log(`${name}: refused ${r.peer?.spiffeId ?? 'a peer'}: ${r.reason}`) },
    (req, res) => res.end(`${name} says hello to ${peerIdentity(req.socket).spiffeId}\n`),
  );
  const agent = createMtlsAgent({ source, authorize: authorize.id(ID[peer]) });
  return { name, source, server, agent };
}

function call(from, port) {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/', agent: from.agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      // A refused client is answered 403 with the reason: show it as such.
      res.on('end', () => resolve(res.statusCode === 403 ? `refused (${JSON.parse(body).error.refusal})` : body.trim()));
    }).on('error', (e) => resolve(`refused (${e.code ?? e.message})`));
  });
}

const frontend = service('frontend', 'backend');
const backend = service('backend', 'frontend');
const listen = (s) => new Promise((r) => s.server.listen(0, '127.0.0.1', () => r(s.server.address().port)));
const [fport, bport] = [await listen(frontend), await listen(backend)];

console.log(`frontend → backend: ${await call(frontend, bport)}`);
console.log(`backend → frontend: ${await call(backend, fport)}`);
// The revoked "retired" service is refused by the CRL; a frontend calling itself is refused by the authorizer.
const retired = service('retired', 'backend');
console.log(`retired → backend:  ${await call(retired, bport)}`);
console.log(`frontend → frontend: ${await call(frontend, fport)}`);

for (const s of [frontend, backend, retired]) {
  s.server.close();
  s.source.close();
  s.agent.destroy();
}
