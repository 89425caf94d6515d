// /v1/revocations/stream: resumed across a killed service with nothing missed; forged events ignored and reported.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchBytes } from '../../src/client/fetch.js';
import { RevocationStream, type RevocationNotice } from '../../src/client/revocation-stream.js';
import { generateKeyPair, privateKeyToPem, readPublicKeyInfo, signerFor, spkiOf } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { OcspResponder } from '../../src/revocation/ocsp-responder.js';
import { storeSource } from '../../src/revocation/ocsp-source.js';
import { CertificateSource } from '../../src/tls/index.js';
import { ca, caAsync, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { createCsr } from '../../src/pki/csr.js';
import { createTestCa, type TestCa } from '../helpers/test-ca.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const TD = 'stream.internal';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


/** A leaf issued on the CA directory, its serial. */
function issueLocal(dir: string, root: string, name: string): string {
  const r = caJson<{ serial: string }>(['issue', name, '--dir', dir, '--spiffe-id', `spiffe://${TD}/${name}`, '--cert-out', join(root, `${name}.pem`), '--key-out', join(root, `${name}.key`), '--json']);
  return r.serial;
}

describe('the revocation stream', () => {
  it('ok/a subscriber resumes after the service is killed and revocations were made meanwhile: every event once, in order, none missed', async () => {
    const root = tempDir();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Stream CA', '--trust-domain', TD]).code).toBe(0);
    let svc: RunningCa = await startCa(dir);
    cleanups.push(async () => void (await svc.stop()));
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    issueLocal(dir, root, 'subscriber');
    const victims = Array.from({ length: 8 }, (_, i) => issueLocal(dir, root, `victim-${i}`));
    const bundle = (await fetchBytes(`${svc.url}/v1/trust-bundle`, { caBundle: rootPem, caService: true })).toString('utf8');
    const credentials = () => ({ cert: readFileSync(join(root, 'subscriber.pem'), 'utf8'), key: readFileSync(join(root, 'subscriber.key'), 'utf8') });
    const stream = new RevocationStream({ caUrl: svc.url, caBundle: rootPem, credentials, trustBundle: () => bundle });
    cleanups.push(() => stream.close());
    const seen: RevocationNotice[] = [];
    const forged: unknown[] = [];
    stream.on('revoked', (n: RevocationNotice) => seen.push(n));
    stream.on('forged', (e: unknown) => forged.push(e));
    stream.start();
    await until('the subscription', () => stream.connected);

    for (const serial of victims.slice(0, 3)) expect((await caAsync(['revoke', serial, '--dir', dir, '--reason', 'superseded'])).code).toBe(0);
    await until('three events', () => seen.length === 3);
    const position = stream.lastEventId;
    expect(position).toMatch(/^3\.0$/);

    // The service dies; four revocations are made on the directory while it is down; it comes back on the same port.
    svc.child.kill('SIGKILL');
    await once(svc.child, 'exit');
    await until('the stream to notice', () => !stream.connected);
    for (const serial of victims.slice(3, 7)) expect((await caAsync(['revoke', serial, '--dir', dir])).code).toBe(0);
    svc = await startCa(dir, { httpsPort: svc.httpsPort });
    await until('the four missed events, replayed', () => seen.length === 7, 20_000);
    expect((await caAsync(['revoke', victims[7]!, '--dir', dir])).code).toBe(0);
    await until('the live one', () => seen.length === 8);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.map((n) => n.serial)).toEqual(victims);
    expect(seen[0]!.reason).toBe('superseded');
    expect(forged).toEqual([]);

    // A subscriber from the very beginning gets the whole log again, from the store, signed afresh.
    const fromStart = new RevocationStream({ caUrl: svc.url, caBundle: rootPem, credentials, trustBundle: () => bundle });
    cleanups.push(() => fromStart.close());
    const all: string[] = [];
    fromStart.on('revoked', (n: RevocationNotice) => all.push(n.serial));
    (fromStart as unknown as { position: string }).position = '0.0';
    fromStart.start();
    await until('the replay from the store', () => all.length === 8);
    expect(all).toEqual(victims);

    // Without its own current certificate there is no subscription.
    const gone = issueLocal(dir, root, 'gone');
    expect((await caAsync(['revoke', gone, '--dir', dir])).code).toBe(0);
    const refused = new RevocationStream({ caUrl: svc.url, caBundle: rootPem, credentials: () => ({ cert: readFileSync(join(root, 'gone.pem'), 'utf8'), key: readFileSync(join(root, 'gone.key'), 'utf8') }) });
    cleanups.push(() => refused.close());
    const why = new Promise<{ code: string }>((r) => refused.once('disconnected', (e: { code: string }) => r(e)));
    refused.start();
    expect((await why).code).toBe('ERR_CERTIFICATE_REVOKED');
  }, 120_000);
});

describe('the revocation stream under load and abuse', () => {
  it('ok/a mass revocation of 400 reaches a reading subscriber whole; fail/one certificate holds at most 4 subscriptions, and streams never take the connections the API needs', async () => {
    const root = tempDir();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Stream CA', '--trust-domain', TD]).code).toBe(0);
    const svc = await startCa(dir, { args: ['--max-connections', '12', '--rate-limit', '100000'] });
    cleanups.push(async () => void (await svc.stop()));
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const key = ca(['apikey', 'create', '--dir', dir, '--name', 'bulk', '--scope', `issue:spiffe:spiffe://${TD}/**`]).stdout.trim();
    const sign = async (name: string) => {
      const k = generateKeyPair('ec-p256').privateKey;
      const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(k, name)), name, spiffeId: `spiffe://${TD}/${name}` });
      const r = await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
      expect(r.status, r.body).toBe(201);
      return { cert: `${r.json().certificate}${r.json().chain}`, key: privateKeyToPem(k), serial: r.json().serial as string };
    };
    const subscribers = await Promise.all(['s1', 's2'].map(sign));
    const bundle = (await fetchBytes(`${svc.url}/v1/trust-bundle`, { caBundle: rootPem, caService: true })).toString('utf8');
    const open = (who: { cert: string; key: string }) => {
      const stream = new RevocationStream({ caUrl: svc.url, caBundle: rootPem, credentials: () => who, trustBundle: () => bundle });
      cleanups.push(() => stream.close());
      const refused = new Promise<{ code: string }>((r) => stream.once('disconnected', (e: { code: string }) => r(e)));
      return { stream: stream.start(), refused };
    };
    // 4 per certificate; the 5th is refused (and retries later, as any disconnected subscriber does).
    const first = Array.from({ length: 4 }, () => open(subscribers[0]!));
    await until('four subscriptions', () => first.every((f) => f.stream.connected));
    const fifth = open(subscribers[0]!);
    expect((await fifth.refused).code).toBe('ERR_RATE_LIMITED');
    fifth.stream.close();
    // With --max-connections 12, streams get 9: the 10th subscription waits, and the API still answers.
    const second = Array.from({ length: 4 }, () => open(subscribers[1]!));
    await until('eight subscriptions', () => second.every((f) => f.stream.connected));
    const third = await sign('s3');
    const ninth = open(third);
    await until('nine', () => ninth.stream.connected);
    const tenth = open(third);
    expect((await tenth.refused).code).toBe('ERR_STREAM_FULL');
    tenth.stream.close();
    expect((await httpsRequest(`${svc.url}/healthz`, { ca: rootPem })).status).toBe(200);

    // 400 leaves revoked at once by `ca revoke --identity`: every event arrives, on one connection.
    const bulk: string[] = [];
    // Two at a time: the listener holds 12 connections, 9 of them streams.
    for (let i = 0; i < 400; i += 2) bulk.push(...(await Promise.all([sign(`bulk/b${i}`), sign(`bulk/b${i + 1}`)])).map((b) => b.serial));
    const seen = new Set<string>();
    let drops = 0;
    const reader = first[0]!.stream;
    reader.on('revoked', (n: RevocationNotice) => seen.add(n.serial));
    reader.on('disconnected', () => drops++);
    const r = await caAsync(['revoke', '--identity', `spiffe:spiffe://${TD}/bulk/**`, '--dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    await until('400 events', () => bulk.every((s) => seen.has(s)), 30_000);
    expect(drops).toBe(0);

    // A renewed certificate may not subscribe, and its successor's subscription closes its streams: renewals do not
    // add up to more subscriptions.
    const renewed = await httpsRequest(`${svc.url}/v1/renew`, { method: 'POST', ca: rootPem, cert: subscribers[1]!.cert, key: subscribers[1]!.key });
    expect(renewed.status, renewed.body).toBe(201);
    const stale = open(subscribers[1]!);
    expect((await stale.refused).code).toBe('ERR_CERTIFICATE_SUPERSEDED');
    stale.stream.close();
    const successor = open({ cert: `${renewed.json().certificate}${renewed.json().chain}`, key: subscribers[1]!.key });
    await until('the successor subscribed', () => successor.stream.connected);
    await until("the predecessor's streams closed", () => second.every((f) => !f.stream.connected));
    for (const f of second) f.stream.close();
  }, 120_000);
});

/** An OCSP responder for a test CA's intermediate, with its delegated signer. */
async function responderOf(t: TestCa): Promise<OcspResponder> {
  const inter = t.authority.intermediate;
  const responder = new OcspResponder({ issuerSubject: inter.subject, issuerKeyBits: readPublicKeyInfo(inter.certificate.spki).keyBytes, source: storeSource(t.store, inter.keyIdHex), clock: t.clock, validitySeconds: 3600 });
  const key = generateKeyPair('ec-p256').privateKey;
  const cert = await t.authority.issueOcspSigner(inter, spkiOf(key), 86400, { actor: 'test' });
  responder.setSigner({ signer: signerFor(key), certificate: cert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spkiOf(key)).keyBytes).digest() });
  return responder;
}

describe('forged revocation events', () => {
  it('fail/wrong signer, unknown issuer, tampered, "good" or unsigned statements are ignored and reported; a genuine one is acted on', async () => {
    const dir = tempDir();
    const t = await createTestCa({ now: new Date() });
    const other = await createTestCa({ now: new Date() });
    const issue = async (a: TestCa, name: string) => {
      const key = generateKeyPair('ec-p256').privateKey;
      const leaf = await a.authority.issue({ commonName: name, spiffeId: `spiffe://acme.internal/${name}`, ipAddresses: ['127.0.0.1'], key: { spki: spkiOf(key) } }, { actor: 'test' });
      return { leaf, key, pem: toPem('CERTIFICATE', leaf.der) + a.authority.chainFor(leaf) };
    };
    const subscriber = await issue(t, 'subscriber');
    writeFileSync(join(dir, 'sub.pem'), subscriber.pem);
    writeFileSync(join(dir, 'sub.key'), privateKeyToPem(subscriber.key));
    writeFileSync(join(dir, 'bundle.pem'), t.authority.trustBundlePem);
    writeFileSync(join(dir, 'root.pem'), t.authority.root.pem);
    const [genuine, tampered, good, unsigned, foreign] = await Promise.all(['genuine', 'tampered', 'good', 'unsigned', 'foreign'].map((n) => issue(t, n)));
    const responder = await responderOf(t);
    const otherResponder = await responderOf(other);
    const inter = t.authority.intermediate.keyIdHex;
    const revokedNow = { revokedAt: new Date(), reason: 'keyCompromise' as const };
    const statement = (r: OcspResponder, serial: string) => r.statementFor(serial, revokedNow)!.toString('base64');
    const flipped = Buffer.from(statement(responder, tampered!.leaf.serial), 'base64');
    flipped[flipped.length - 80]! ^= 1;
    const goodAnswer = await responder.respond(Buffer.from(
      (await import('../../src/revocation/ocsp.js')).createOcspRequest({ issuerSubject: t.authority.intermediate.subject, issuerKeyBits: readPublicKeyInfo(t.authority.intermediate.certificate.spki).keyBytes, serial: Buffer.from(good!.leaf.serial, 'hex') }),
    ));
    const events = [
      { serial: foreign!.leaf.serial, issuerKeyId: inter, ocsp: statement(otherResponder, foreign!.leaf.serial) }, // another CA's signer
      { serial: foreign!.leaf.serial, issuerKeyId: 'ab'.repeat(20), ocsp: statement(responder, foreign!.leaf.serial) }, // unknown issuer
      { serial: tampered!.leaf.serial, issuerKeyId: inter, ocsp: flipped.toString('base64') },
      { serial: good!.leaf.serial, issuerKeyId: inter, ocsp: goodAnswer.body.toString('base64') },
      { serial: unsigned!.leaf.serial, issuerKeyId: inter },
      { serial: genuine!.leaf.serial, issuerKeyId: inter, ocsp: statement(responder, genuine!.leaf.serial) },
    ];
    // A server that passes as the CA service (the reserved identity, from the same CA) and sends those events.
    const serviceKey = generateKeyPair('ec-p256').privateKey;
    const service = await t.authority.issueCaServiceLeaf(spkiOf(serviceKey), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, { actor: 'test' });
    const fake = createServer({ key: privateKeyToPem(serviceKey), cert: toPem('CERTIFICATE', service.der) + t.authority.chainFor(service) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      events.forEach((data, i) => res.write(`id: ${i + 1}.0\nevent: revoked\ndata: ${JSON.stringify(data)}\n\n`));
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    cleanups.push(() => new Promise<void>((r) => {
      fake.closeAllConnections();
      fake.close(() => r());
    }));
    const source = CertificateSource.fromFiles({ cert: join(dir, 'sub.pem'), key: join(dir, 'sub.key'), ca: join(dir, 'root.pem'), caUrl: `https://127.0.0.1:${(fake.address() as AddressInfo).port}` });
    cleanups.push(() => source.close());
    const errors: { code: string; message: string }[] = [];
    source.on('error', (e: { code: string; message: string }) => errors.push(e));
    const revoked: RevocationNotice[] = [];
    source.on('revoked', (n: RevocationNotice) => revoked.push(n));
    await until('the genuine event', () => revoked.length === 1);
    expect(revoked[0]).toMatchObject({ serial: genuine!.leaf.serial, reason: 'keyCompromise' });
    expect(source.isRevoked(genuine!.leaf.serial)).toBe(true);
    for (const s of [foreign, tampered, good, unsigned]) expect(source.isRevoked(s!.leaf.serial)).toBe(false);
    const forged = errors.filter((e) => e.code === 'ERR_REVOCATION_EVENT_FORGED').map((e) => e.message);
    expect(forged).toHaveLength(5);
    expect(forged[0]).toMatch(/does not verify/);
    expect(forged[1]).toMatch(/not in the trust bundle/);
    expect(forged[2]).toMatch(/does not verify/);
    expect(forged[3]).toMatch(/says good, not revoked/);
    expect(forged[4]).toMatch(/no signed statement/);
  }, 60_000);
});
