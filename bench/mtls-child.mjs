// Benchmark child for new-connection mTLS: `server MODE DIR` serves and prints its port; `client MODE DIR PORT SECONDS` loads it.
// MODE is `meshca` (createMtlsServer + createMtlsAgent), `plain` (https with requestCert and the same certificates, as
// most code writes it), or `equal` (plain https configured as the helper is: no session tickets on the server, one
// TLS context built once for the client, no session cache).

import https from 'node:https';
import { constants } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authorize, CertificateSource, createMtlsAgent, createMtlsServer } from 'meshca/tls';

const [role, mode, dir, port, seconds] = process.argv.slice(2);
const file = (f) => readFileSync(join(dir, f));
const files = (name) => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`), ca: join(dir, 'root.pem') });
const handler = (_req, res) => res.end('ok');

if (role === 'server') {
  const server =
    mode === 'meshca'
      ? createMtlsServer({ source: CertificateSource.fromFiles(files('server')), authorize: authorize.id('spiffe://bench.internal/client') }, handler)
      : https.createServer({ cert: file('server.pem'), key: file('server.key'), ca: file('root.pem'), requestCert: true, rejectUnauthorized: true, ...(mode === 'equal' ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}) }, handler);
  server.on('connection', (s) => s.setNoDelay(true));
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
} else {
  const agent =
    mode === 'meshca'
      ? createMtlsAgent({ source: CertificateSource.fromFiles(files('client')), authorize: authorize.id('spiffe://bench.internal/server'), keepAlive: false })
      : mode === 'equal'
        ? new https.Agent({ secureContext: createSecureContext({ cert: file('client.pem'), key: file('client.key'), ca: file('root.pem') }), keepAlive: false, maxCachedSessions: 0 })
        : new https.Agent({ cert: file('client.pem'), key: file('client.key'), ca: file('root.pem'), keepAlive: false, maxCachedSessions: 0 });
  const end = Date.now() + Number(seconds) * 1000;
  let done = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      https
        .get({ host: '127.0.0.1', port: Number(port), path: '/', agent, servername: 'localhost' }, (res) => {
          res.resume();
          res.on('end', () => {
            done++;
            resolve();
          });
        })
        .on('error', () => {
          failed++;
          resolve();
        });
    });
  const loop = async () => {
    while (Date.now() < end) await one();
  };
  const start = Date.now();
  await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY ?? 16) }, loop));
  console.log(JSON.stringify({ rate: done / ((Date.now() - start) / 1000), failed }));
  process.exit(0);
}
