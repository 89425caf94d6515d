// failClosed with a push stream: stale CRLs are stood in for by a live stream (CRL-listed peers still refused), and
// every peer is refused once the stream has been down longer than its grace.

import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpsRequest, type Agent } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signIssuerCrl } from '../../src/authority/authority.js';
import { generateKeyPair, privateKeyToPem, spkiOf } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { authorize, CertificateSource, createMtlsAgent, createMtlsServer, type Refusal } from '../../src/tls/index.js';
import { createTestCa } from '../helpers/test-ca.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


function get(port: number, agent: Agent): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

describe('failClosed with the revocation stream', () => {
  it('ok/stale CRLs and a live stream: peers accepted, CRL-listed ones still refused; the stream down past its grace: every peer refused', async () => {
    const dir = tempDir();
    const t = await createTestCa({ now: new Date() });
    const issue = async (name: string) => {
      const key = generateKeyPair('ec-p256').privateKey;
      const leaf = await t.authority.issue({ commonName: name, spiffeId: `spiffe://acme.internal/${name}`, ipAddresses: ['127.0.0.1'], key: { spki: spkiOf(key) } }, { actor: 'test' });
      writeFileSync(join(dir, `${name}.pem`), toPem('CERTIFICATE', leaf.der) + t.authority.chainFor(leaf));
      writeFileSync(join(dir, `${name}.key`), privateKeyToPem(key));
      return leaf;
    };
    await issue('backend');
    await issue('good');
    const listed = await issue('listed');
    await t.authority.revoke(listed.serial, 'keyCompromise', { actor: 'test' });
    writeFileSync(join(dir, 'root.pem'), t.authority.root.pem);
    // CRLs of both levels that expired a minute ago.
    const past = new Date(Date.now() - 120_000);
    const crls = await Promise.all([
      signIssuerCrl({ store: t.store, issuer: t.root, level: 'root', now: past, validitySeconds: 60, retentionSeconds: 86400 }),
      signIssuerCrl({ store: t.store, issuer: t.authority.intermediate, level: 'intermediate', now: past, validitySeconds: 60, retentionSeconds: 86400 }),
    ]);
    writeFileSync(join(dir, 'crls.pem'), crls.map((c) => toPem('X509 CRL', c.der)).join(''));

    // A stream that says nothing but heartbeats, from a server with the CA service's identity.
    const serviceKey = generateKeyPair('ec-p256').privateKey;
    const service = await t.authority.issueCaServiceLeaf(spkiOf(serviceKey), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, { actor: 'test' });
    const sockets = new Set<Socket>();
    const beats = new Set<NodeJS.Timeout>();
    const stream = createServer({ key: privateKeyToPem(serviceKey), cert: toPem('CERTIFICATE', service.der) + t.authority.chainFor(service) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const beat = setInterval(() => res.write('id: 0.0\nevent: heartbeat\ndata: {"crls":[]}\n\n'), 200);
      beats.add(beat);
      res.write('id: 0.0\nevent: heartbeat\ndata: {"crls":[]}\n\n');
    });
    stream.on('connection', (s: Socket) => sockets.add(s));
    stream.listen(0, '127.0.0.1');
    await once(stream, 'listening');
    const stop = () => {
      for (const b of beats) clearInterval(b);
      stream.close();
      for (const s of sockets) s.destroy();
    };
    cleanups.push(stop);

    // A caUrl that is not the CA's HTTPS API is refused at once, not discovered when every peer is refused.
    expect(() => CertificateSource.fromFiles({ cert: join(dir, 'backend.pem'), key: join(dir, 'backend.key'), ca: join(dir, 'root.pem'), caUrl: 'http://127.0.0.1:8080' })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    const source = CertificateSource.fromFiles({ cert: join(dir, 'backend.pem'), key: join(dir, 'backend.key'), ca: join(dir, 'root.pem'), crl: join(dir, 'crls.pem'), caUrl: `https://127.0.0.1:${(stream.address() as AddressInfo).port}`, revocation: { policy: 'failClosed', streamGraceMs: 1_000 } });
    cleanups.push(() => source.close());
    const refusals: Refusal[] = [];
    const server = createMtlsServer({ source, authorize: authorize.any(), onRefused: (r) => refusals.push(r) }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const agentFor = (name: string) => {
      const s = CertificateSource.fromFiles({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`), ca: join(dir, 'root.pem') });
      cleanups.push(() => s.close());
      return createMtlsAgent({ source: s, authorize: authorize.any() });
    };

    await until('the subscription', () => source.revocationStream?.connected === true);
    expect(source.crlStale()).toBe(true);
    await new Promise((r) => setTimeout(r, 100)); // the context without the stale CRLs is swapped in
    expect(await get(port, agentFor('good'))).toEqual({ status: 200, body: 'ok' });
    const refused = await get(port, agentFor('listed'));
    expect('status' in refused && refused.status).toBe(403);
    expect(refusals.map((r) => [r.code, r.peer?.serial])).toEqual([['revoked', listed.serial]]);

    // The stream goes away: within its grace nothing changes; past it, failClosed refuses everyone.
    stop();
    await until('the source to notice', () => source.revocationStream?.connected === false);
    await new Promise((r) => setTimeout(r, 1_300));
    const late = await get(port, agentFor('good'));
    expect('status' in late && late.status).toBe(403);
    expect(refusals.at(-1), JSON.stringify(refusals.at(-1))).toMatchObject({ code: 'revocation-unknown' });
  }, 30_000);
});
