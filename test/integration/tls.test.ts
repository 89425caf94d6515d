// meshca/tls on real sockets: identities from the CA core, refusals that never reach the handler, live rotation.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpsServer, request as httpsRequest, type Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addSeconds } from '../../src/crypto/clock.js';
import { generateKeyPair, privateKeyToPem, spkiOf } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { writeFileAtomic } from '../../src/files/atomic-write.js';
import { authorize, CertificateSource, createMtlsAgent, createMtlsServer, createMtlsTlsServer, peerIdentity, type Refusal } from '../../src/tls/index.js';
import { ca, runAsync } from '../helpers/run.js';
import { freePort, startCa } from '../helpers/service.js';
import { createTestCa, signRootCrl, type TestCa } from '../helpers/test-ca.js';
import { tempDir } from '../helpers/tmp.js';

const TD = 'acme.internal';
const FRONTEND = `spiffe://${TD}/ns/prod/frontend`;
const BACKEND = `spiffe://${TD}/ns/prod/backend`;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A test CA with its trust bundle and CRLs written to `dir`; `issue` writes a leaf's cert+chain and key there. */
async function testPki(dir: string, given?: TestCa) {
  const ca = given ?? (await createTestCa({ now: new Date() }));
  writeFileSync(join(dir, 'root.pem'), ca.authority.root.pem);
  const writeCrls = async () => {
    const root = await signRootCrl(ca);
    const intermediate = await ca.authority.signCrl();
    writeFileAtomic(join(dir, 'crls.pem'), toPem('X509 CRL', root.der) + toPem('X509 CRL', intermediate.der));
  };
  await writeCrls();
  const issue = async (name: string, p: { spiffeId?: string; ttlSeconds?: number; dns?: string[] } = {}) => {
    const key = generateKeyPair('ec-p256').privateKey;
    const leaf = await ca.authority.issue(
      { commonName: name, spiffeId: p.spiffeId, dnsNames: p.dns ?? ['localhost'], ipAddresses: ['127.0.0.1'], ttlSeconds: p.ttlSeconds, key: { spki: spkiOf(key) } },
      { actor: 'test' },
    );
    writeFileAtomic(join(dir, `${name}.key`), privateKeyToPem(key), 0o600);
    writeFileAtomic(join(dir, `${name}.pem`), toPem('CERTIFICATE', leaf.der) + ca.authority.chainFor(leaf));
    return { ...leaf, cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const source = (name: string, pollIntervalMs = 100) => {
    const s = CertificateSource.fromFiles({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`), ca: join(dir, 'root.pem'), crl: join(dir, 'crls.pem'), pollIntervalMs });
    cleanups.push(() => s.close());
    return s;
  };
  return { ca, dir, issue, source, writeCrls };
}

async function listen(server: import('node:net').Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

/** One GET through `agent` (or with raw client credentials); resolves with the body or the error. */
function get(port: number, options: { agent?: Agent; ca?: string; cert?: string; key?: string }): Promise<{ status: number; body: string; serverSerial?: string } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', ...options, ...(options.agent ? {} : { agent: false }) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, serverSerial: peerIdentity(res.socket)?.serial }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
    req.end();
  });
}

async function mtlsPair(p: Awaited<ReturnType<typeof testPki>>, serverAuthorize = authorize.id(FRONTEND)) {
  await p.issue('backend', { spiffeId: BACKEND });
  const refusals: Refusal[] = [];
  let reached = 0;
  const server = createMtlsServer({ source: p.source('backend'), authorize: serverAuthorize, onRefused: (r) => refusals.push(r) }, (req, res) => {
    reached++;
    const peer = peerIdentity(req.socket)!;
    res.end(JSON.stringify(peer));
  });
  const port = await listen(server);
  return { server, port, refusals, reached: () => reached };
}

describe('meshca/tls server and agent', () => {
  it('ok/the allowed client reaches the handler, which sees its identity; the agent sees the server\'s', async () => {
    const p = await testPki(tempDir());
    const { port, reached } = await mtlsPair(p);
    const frontend = await p.issue('frontend', { spiffeId: FRONTEND, dns: ['frontend.acme.internal'] });
    const agent = createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(BACKEND) });
    const r = await get(port, { agent });
    expect('status' in r && r.status).toBe(200);
    if (!('status' in r)) return;
    expect(JSON.parse(r.body)).toMatchObject({ spiffeId: FRONTEND, dnsNames: ['frontend.acme.internal'], ipAddresses: ['127.0.0.1'], serial: frontend.serial });
    expect(r.serverSerial).toMatch(/^[0-9a-f]{32}$/);
    expect(reached()).toBe(1);
  });

  it.each([
    ['another SPIFFE ID', 'intruder', /not authorized: the server allows SPIFFE ID spiffe:\/\/acme.internal\/ns\/prod\/frontend/],
    ['no client certificate', 'none', /no client certificate/],
    ['a certificate from another CA with the same trust domain', 'foreign', /its certificate does not chain to the trust bundle/],
    ['an expired certificate', 'expired', /its certificate has expired/],
  ])('fail/%s never reaches the handler', async (_n, kind, reason) => {
    const p = await testPki(tempDir());
    const { port, reached, refusals } = await mtlsPair(p);
    const dir = p.dir;
    let creds: { cert?: string; key?: string } = {};
    if (kind === 'intruder') {
      const c = await p.issue('intruder', { spiffeId: `spiffe://${TD}/ns/prod/intruder` });
      creds = { cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') };
    } else if (kind === 'foreign') {
      mkdirSync(join(dir, 'other'));
      const other = await testPki(join(dir, 'other'));
      const c = await other.issue('frontend', { spiffeId: FRONTEND });
      creds = { cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') };
    } else if (kind === 'expired') {
      const real = p.ca.clock.now();
      p.ca.clock.set(addSeconds(real, -3 * 3600));
      const c = await p.issue('old', { spiffeId: FRONTEND, ttlSeconds: 3600 });
      p.ca.clock.set(real);
      creds = { cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') };
    }
    const r = await get(port, { ca: readFileSync(join(dir, 'root.pem'), 'utf8'), ...creds });
    // The refused client is told why (403 naming the reason and its certificate), not left with "socket hang up".
    expect('status' in r && r.status).toBe(403);
    if ('status' in r) expect(JSON.parse(r.body).error.message).toMatch(reason);
    await new Promise((res) => setTimeout(res, 100));
    expect(reached()).toBe(0);
    expect(refusals.map((x) => x.reason).join('\n')).toMatch(reason);
    if (kind !== 'none') expect(refusals[0]!.peer?.serial).toMatch(/^[0-9a-f]+$/);
    if (kind === 'intruder') expect(refusals[0]!.peer?.spiffeId).toBe(`spiffe://${TD}/ns/prod/intruder`);
  });

  it('fail/a client revoked after the CRL file changes is refused from then on', async () => {
    const p = await testPki(tempDir());
    const { port, reached, refusals } = await mtlsPair(p);
    const victim = await p.issue('frontend', { spiffeId: FRONTEND });
    const agent = () => createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(BACKEND) });
    expect(await get(port, { agent: agent() })).toMatchObject({ status: 200 });
    p.ca.authority.revoke(victim.serial, 'keyCompromise', { actor: 'test' });
    await p.writeCrls();
    await new Promise((r) => setTimeout(r, 600)); // both sources poll every 100 ms
    const after = await get(port, { agent: agent() });
    expect('status' in after && after.status).toBe(403);
    expect(reached()).toBe(1);
    expect(refusals.map((x) => [x.code, x.peer?.serial])).toEqual([['revoked', victim.serial]]);
    expect(refusals[0]!.reason).toBe('its certificate is revoked');
  });

  it('fail/the client refuses a server whose identity does not match', async () => {
    const p = await testPki(tempDir());
    const { port, reached } = await mtlsPair(p);
    await p.issue('frontend', { spiffeId: FRONTEND });
    const refused: Refusal[] = [];
    const agent = createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(`spiffe://${TD}/ns/prod/payments`), onRefused: (r) => refused.push(r) });
    const r = await get(port, { agent });
    expect('error' in r && r.error.code).toBe('ERR_MESHCA_PEER_NOT_AUTHORIZED');
    expect(refused[0]!.peer?.spiffeId).toBe(BACKEND);
    expect(reached()).toBe(0);
  });

  it('fail/a TLS session handed to the agent is not resumed: the server is still checked and refused', async () => {
    const p = await testPki(tempDir());
    // A plain https server that gives session tickets, with a certificate of the same CA the agent does not allow.
    const other = await p.issue('other', { spiffeId: `spiffe://${TD}/ns/prod/other` });
    const server = createHttpsServer({ cert: readFileSync(other.cert), key: readFileSync(other.key) }, (_req, res) => res.end('reached'));
    const port = await listen(server);
    await p.issue('frontend', { spiffeId: FRONTEND });
    // A session for that server, from a plain TLS client.
    const session = await new Promise<Buffer>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(join(p.dir, 'root.pem')), servername: 'localhost' });
      socket.once('session', (s: Buffer) => (socket.end(), resolve(s)));
      socket.once('error', reject);
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    const refused: Refusal[] = [];
    const agent = createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(BACKEND), onRefused: (r) => refused.push(r) });
    const r = await new Promise<{ status: number; body: string } | { error: NodeJS.ErrnoException }>((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent, session }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', (error) => resolve({ error }));
      req.end();
    });
    expect('error' in r && r.error.code).toBe('ERR_MESHCA_PEER_NOT_AUTHORIZED');
    expect(refused[0]?.peer?.spiffeId).toBe(`spiffe://${TD}/ns/prod/other`);
  });

  it('ok/rotating both certificates under a steady request loop drops nothing; new connections show the new serials', async () => {
    const p = await testPki(tempDir());
    const { port } = await mtlsPair(p, authorize.memberOf(TD));
    const first = await p.issue('frontend', { spiffeId: FRONTEND });
    const agent = createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(BACKEND), keepAlive: false });
    const results: Array<Awaited<ReturnType<typeof get>>> = [];
    let running = true;
    const loops = Array.from({ length: 4 }, async () => {
      while (running) results.push(await get(port, { agent }));
    });
    await new Promise((r) => setTimeout(r, 300));
    const backendBefore = results.find((r) => 'status' in r) as { serverSerial: string };
    const renewedServer = await p.issue('backend', { spiffeId: BACKEND });
    const renewedClient = await p.issue('frontend', { spiffeId: FRONTEND });
    await new Promise((r) => setTimeout(r, 800));
    running = false;
    await Promise.all(loops);
    expect(results.length).toBeGreaterThan(20);
    expect(results.filter((r) => 'error' in r)).toEqual([]);
    const last = results.at(-1) as { body: string; serverSerial: string };
    expect(backendBefore.serverSerial).not.toBe(renewedServer.serial);
    expect(last.serverSerial).toBe(renewedServer.serial);
    expect(JSON.parse(last.body).serial).toBe(renewedClient.serial);
    expect(JSON.parse((results[0] as { body: string }).body).serial).toBe(first.serial);
  });

  it('ok/a bad write never replaces good credentials', async () => {
    const p = await testPki(tempDir());
    await p.issue('frontend', { spiffeId: FRONTEND });
    const source = p.source('frontend');
    const errors: unknown[] = [];
    source.on('error', (e) => errors.push(e));
    const before = source.identity.serial;
    const other = generateKeyPair('ec-p256').privateKey;
    writeFileSync(join(p.dir, 'frontend.key'), privateKeyToPem(other));
    await new Promise((r) => setTimeout(r, 400));
    expect(source.identity.serial).toBe(before);
    expect(String(errors[0])).toContain('the key does not match the certificate');
    // The same problem is reported once, not at every poll; a new bad write is reported again.
    await new Promise((r) => setTimeout(r, 1600));
    expect(errors).toHaveLength(1);
    writeFileSync(join(p.dir, 'frontend.key'), 'half a key');
    await new Promise((r) => setTimeout(r, 600));
    expect(errors).toHaveLength(2);
    expect(source.identity.serial).toBe(before);
  });

  it('ok/raw TLS server, curl and openssl s_client as foreign clients; openssl s_server as a foreign server for the agent', async () => {
    const p = await testPki(tempDir());
    const { port } = await mtlsPair(p);
    const client = await p.issue('frontend', { spiffeId: FRONTEND });
    const intruder = await p.issue('intruder', { spiffeId: `spiffe://${TD}/x` });
    const ok = await runAsync('curl', ['-sS', '--cacert', join(p.dir, 'root.pem'), '--cert', client.cert, '--key', client.key, `https://127.0.0.1:${port}/`]);
    expect(JSON.parse(ok.stdout).spiffeId).toBe(FRONTEND);
    const refused = await runAsync('curl', ['-sS', '-w', '%{http_code}', '--cacert', join(p.dir, 'root.pem'), '--cert', intruder.cert, '--key', intruder.key, `https://127.0.0.1:${port}/`]);
    expect(refused.stdout).toMatch(/"refusal":"not-authorized".*403$/);
    const sclient = await runAsync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', join(p.dir, 'root.pem'), '-cert', client.cert, '-cert_chain', client.cert, '-key', client.key, '-verify_return_error', '-quiet', '-ign_eof'], 'GET / HTTP/1.0\r\n\r\n');
    expect(sclient.code, sclient.stderr).toBe(0);
    expect(sclient.stdout, sclient.stderr).toContain(FRONTEND);

    const tlsServer = createMtlsTlsServer({ source: p.source('backend'), authorize: authorize.matches(`spiffe://${TD}/ns/*/frontend`) }, (socket) => socket.end(`hi ${peerIdentity(socket)?.spiffeId}\n`));
    const tlsPort = await listen(tlsServer);
    const raw = tlsConnect({ host: '127.0.0.1', port: tlsPort, ca: readFileSync(join(p.dir, 'root.pem')), cert: readFileSync(client.cert), key: readFileSync(client.key), servername: 'localhost' });
    let said = '';
    raw.on('data', (d) => (said += d));
    await new Promise((resolve, reject) => {
      raw.on('end', resolve);
      raw.on('error', reject);
    });
    expect(said).toBe(`hi ${FRONTEND}\n`);

    // openssl s_server as the foreign server, requiring our agent's client certificate
    const sPort = await freePort();
    const backend = { cert: join(p.dir, 'backend.pem'), key: join(p.dir, 'backend.key') };
    const sserver = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${sPort}`, '-cert', backend.cert, '-cert_chain', backend.cert, '-key', backend.key, '-CAfile', join(p.dir, 'root.pem'), '-Verify', '2', '-verify_return_error', '-www', '-quiet']);
    cleanups.push(() => void sserver.kill());
    await new Promise((r) => setTimeout(r, 700));
    const viaAgent = await get(sPort, { agent: createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(BACKEND) }) });
    expect('status' in viaAgent && viaAgent.status).toBe(200);
    const wrong = await get(sPort, { agent: createMtlsAgent({ source: p.source('frontend'), authorize: authorize.id(FRONTEND) }) });
    expect('error' in wrong && wrong.error.code).toBe('ERR_MESHCA_PEER_NOT_AUTHORIZED');
  });

  it('ok/authorizers', async () => {
    const peer = (spiffeId: string | null, dnsNames: string[] = []) => ({ spiffeId, dnsNames, ipAddresses: [], serial: '01', notAfter: new Date() });
    expect(authorize.matches(`spiffe://${TD}/ns/prod/*`)(peer(`spiffe://${TD}/ns/prod/api`))).toBe(true);
    expect(authorize.matches(`spiffe://${TD}/ns/prod/*`)(peer(`spiffe://${TD}/ns/prod/api/v2`))).toBe(false);
    expect(authorize.matches(`spiffe://${TD}/ns/**`)(peer(`spiffe://${TD}/ns/prod/api/v2`))).toBe(true);
    expect(authorize.memberOf(TD)(peer(`spiffe://other.internal/x`))).toBe(false);
    expect(authorize.oneOf(FRONTEND, BACKEND)(peer(BACKEND))).toBe(true);
    expect(authorize.dns('API.acme.internal')(peer(null, ['api.acme.internal']))).toBe(true);
    expect(authorize.any()(peer(null))).toBe(true);
    expect(authorize.id(FRONTEND)(peer(null))).toBe(false);
    expect(() => authorize.id('https://x')).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_ID_INVALID' }));
  });
});

describe('CertificateSource.fromCA', () => {
  it('ok/enrolls, renews a short-lived certificate, keeps serving while the CA is down, renews when it is back', async () => {
    const root = tempDir();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'TLS CA', '--trust-domain', TD]).code).toBe(0);
    let svc = await startCa(dir);
    cleanups.push(async () => void (await svc.stop()));
    // 45 s: the restarted CA must answer before the renewed certificate expires, 15 s after the failed attempt.
    const token = ca(['token', 'frontend', '--dir', dir, '--spiffe-id', FRONTEND, '--cert-ttl', '45s']).stdout.trim();
    const source = await CertificateSource.fromCA({ caUrl: svc.url, caBundle: join(dir, 'root.pem'), dir: join(root, 'svc'), token });
    cleanups.push(() => source.close());
    const errors: unknown[] = [];
    source.on('error', (e) => errors.push(e));
    expect(source.identity.spiffeId).toBe(FRONTEND);
    expect(readFileSync(join(root, 'svc', 'key.pem'), 'utf8')).toContain('PRIVATE KEY');
    const first = source.identity.serial;
    const renewed = () => new Promise<string>((r) => source.once('renewed', (id: { serial: string }) => r(id.serial)));
    const second = await renewed();
    expect(second).not.toBe(first);
    // a restart of the service reuses the files (no token needed)
    const again = await CertificateSource.fromCA({ caUrl: svc.url, caBundle: join(dir, 'root.pem'), dir: join(root, 'svc') });
    expect(again.identity.serial).toBe(second);
    again.close();
    const port = svc.httpsPort;
    await svc.stop();
    const failed = new Promise((r) => source.once('error', r));
    await failed;
    expect(source.identity.serial).toBe(second); // still serving with the current certificate
    svc = await startCa(dir, { httpsPort: port });
    const third = await renewed();
    expect(third).not.toBe(second);
    expect(errors.length).toBeGreaterThan(0);
  }, 150_000);
});

describe('the two-services example', () => {
  it('ok/runs through the package export meshca/tls with the committed example PKI', async () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../examples/two-services.mjs')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('frontend → backend: backend says hello to spiffe://example.meshca.internal/ns/demo/frontend');
    expect(r.stdout).toContain('backend → frontend: frontend says hello to spiffe://example.meshca.internal/ns/demo/backend');
    expect(r.stdout).toMatch(/retired → backend: +refused \(revoked\)/);
    expect(r.stdout).toContain('frontend → frontend: refused (ERR_MESHCA_PEER_NOT_AUTHORIZED)');
  });
});
