import { createHash, webcrypto } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME_TLS_ALPN, keyAuthorization, validateHttp01, validateTlsAlpn01, type ValidationRoute } from '../../../src/acme/validation.js';
import { octets } from '../../../src/crypto/der.js';
import { x509 } from '../../../src/crypto/x509.js';

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

const NAME = 'app.acme.test';
const ka = keyAuthorization('tok-123', 'thumb');
const route = (port: number, kind: 'http01' | 'tlsAlpn01'): ValidationRoute => ({ resolve: { [NAME]: '127.0.0.1' }, ports: { http01: kind === 'http01' ? port : 1, tlsAlpn01: kind === 'tlsAlpn01' ? port : 1 }, timeoutMs: 2_000 });

async function httpServer(answer: (path: string) => [number, string]): Promise<number> {
  const server = createHttpServer((req, res) => {
    const [status, body] = answer(req.url ?? '');
    res.writeHead(status).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A tls-alpn-01 responder presenting a certificate made with @peculiar/x509 (another implementation than ours). */
async function alpnServer(o: { names?: string[]; digestOf?: string; critical?: boolean; alpn?: string[]; neverClose?: boolean } = {}): Promise<number> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension((o.names ?? [NAME]).map((value) => ({ type: 'dns' as const, value })))];
  if (o.digestOf !== undefined) extensions.push(new x509.Extension('1.3.6.1.5.5.7.1.31', o.critical ?? true, octets(createHash('sha256').update(o.digestOf).digest())));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: `CN=${NAME}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000), keys, signingAlgorithm: alg, extensions });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  // neverClose: a peer that keeps its side open (allowHalfOpen, never ends), told when the CA's side goes away.
  // neverClose: a peer that keeps its side open (allowHalfOpen, never ends it).
  const kept: import('node:tls').TLSSocket[] = [];
  const server = createTlsServer({ key, cert: cert.toString('pem'), ALPNProtocols: o.alpn ?? [ACME_TLS_ALPN], allowHalfOpen: o.neverClose === true }, (s) => void (o.neverClose ? kept.push(s) : s.end()));
  closers.push(() => kept.forEach((s) => s.destroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

describe('http-01', () => {
  it('ok/the key authorization at the well-known path (whitespace around it allowed)', async () => {
    const port = await httpServer((path) => (path === '/.well-known/acme-challenge/tok-123' ? [200, `${ka}\n`] : [404, '']));
    await expect(validateHttp01(NAME, 'tok-123', ka, route(port, 'http01'))).resolves.toBeUndefined();
  });

  it.each<[string, [number, string], string]>([
    ['fail/another answer', [200, 'tok-123.other'], 'incorrectResponse'],
    ['fail/not found', [404, ''], 'unauthorized'],
    ['fail/a redirect is not followed', [302, ''], 'unauthorized'],
  ])('%s', async (_n, answer, type) => {
    const port = await httpServer(() => answer);
    await expect(validateHttp01(NAME, 'tok-123', ka, route(port, 'http01'))).rejects.toMatchObject({ type });
  });

  it('fail/nothing listening', async () => {
    await expect(validateHttp01(NAME, 'tok-123', ka, route(1, 'http01'))).rejects.toMatchObject({ type: 'connection' });
  });

  it('fail/an answer over 8 kB, one that trickles past the deadline, one cut off mid-body: each ends the attempt with a problem', async () => {
    const raw = async (handle: (res: import('node:http').ServerResponse) => void) => {
      const server = createHttpServer((_req, res) => handle(res));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      closers.push(() => server.closeAllConnections());
      closers.push(() => server.close());
      return (server.address() as AddressInfo).port;
    };
    const huge = await raw((res) => res.writeHead(200).end('x'.repeat(64 * 1024)));
    await expect(validateHttp01(NAME, 'tok-123', ka, route(huge, 'http01'))).rejects.toMatchObject({ type: 'incorrectResponse', message: expect.stringMatching(/8 kB/) });
    const timers: NodeJS.Timeout[] = [];
    closers.push(() => timers.forEach(clearInterval));
    const trickle = await raw((res) => {
      res.writeHead(200);
      timers.push(setInterval(() => res.write('x'), 200));
    });
    await expect(validateHttp01(NAME, 'tok-123', ka, route(trickle, 'http01'))).rejects.toMatchObject({ type: 'connection', message: expect.stringMatching(/within 2 s/) });
    const cut = await raw((res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('tok');
      setTimeout(() => res.destroy(), 50);
    });
    await expect(validateHttp01(NAME, 'tok-123', ka, route(cut, 'http01'))).rejects.toMatchObject({ type: 'connection' });
  });
});

describe('tls-alpn-01', () => {
  it('ok/acme-tls/1 with the name and the critical acmeIdentifier digest', async () => {
    await expect(validateTlsAlpn01(NAME, ka, route(await alpnServer({ digestOf: ka }), 'tlsAlpn01'))).resolves.toBeUndefined();
  });

  it('ok/the CA closes its connection once validated, even to a peer that never closes its side', async () => {
    const port = await alpnServer({ digestOf: ka, neverClose: true });
    const tls = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = tls();
    await validateTlsAlpn01(NAME, ka, route(port, 'tlsAlpn01'));
    await new Promise((r) => setTimeout(r, 300));
    // The peer's side stays open (it never closes); the CA's own side is gone.
    expect(tls() - before).toBe(1);
  });

  it.each<[string, Parameters<typeof alpnServer>[0], string]>([
    ['fail/the digest of another key authorization', { digestOf: 'tok-123.other' }, 'incorrectResponse'],
    ['fail/no acmeIdentifier extension', {}, 'unauthorized'],
    ['fail/the extension not critical', { digestOf: ka, critical: false }, 'unauthorized'],
    ['fail/another name too', { digestOf: ka, names: [NAME, 'evil.test'] }, 'unauthorized'],
    ['fail/no acme-tls/1', { digestOf: ka, alpn: ['h2'] }, 'tls'],
  ])('%s', async (_n, o, type) => {
    await expect(validateTlsAlpn01(NAME, ka, route(await alpnServer(o), 'tlsAlpn01'))).rejects.toMatchObject({ type });
  });
});
