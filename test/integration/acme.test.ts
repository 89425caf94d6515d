// ACME against a real `ca serve`, with acme-client (npm) as the client: accounts bound by external account keys.

import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Agent, request } from 'node:https';
import { FlattenedSign, exportJWK } from 'jose';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ca, caJson } from '../helpers/run.js';
import { waitFor } from '../helpers/replicas.js';
import { startCa, type RunningCa } from '../helpers/service.js';

describe('ACME accounts (acme-client)', () => {
  let svc: RunningCa;
  let dir: string;
  let eab: { kid: string; hmacKey: string };
  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'meshca-acme-')), 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    eab = caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'ingress', '--scope', 'issue:dns:*.acme.internal', '--json']);
    svc = await startCa(dir);
    acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(join(dir, 'root.pem'), 'utf8') });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const client = async (withEab = true, key?: Buffer) =>
    new acme.Client({ directoryUrl: `${svc.url}/acme/directory`, accountKey: key ?? (await acme.crypto.createPrivateEcdsaKey()), ...(withEab ? { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey } } : {}) });

  it('ok/an account is made with the EAB key, found again by its key, updated and deactivated', async () => {
    const key = await acme.crypto.createPrivateEcdsaKey();
    const c = await client(true, key);
    const account = await c.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@acme.internal'] });
    expect(account).toMatchObject({ status: 'valid', contact: ['mailto:ops@acme.internal'] });
    const url = c.getAccountUrl();
    expect(url).toMatch(new RegExp(`^${svc.url}/acme/acct/`));
    // The same key again: the same account (no second one), even without the binding.
    const again = await client(false, key);
    await again.createAccount({ onlyReturnExisting: true });
    expect(again.getAccountUrl()).toBe(url);
    expect(await c.updateAccount({ contact: ['mailto:pki@acme.internal'] })).toMatchObject({ contact: ['mailto:pki@acme.internal'] });
    expect(await c.updateAccount({ status: 'deactivated' })).toMatchObject({ status: 'deactivated' });
    await expect(c.updateAccount({ contact: [] })).rejects.toThrow(/the account is deactivated/);
    const log = ca(['audit', '--dir', dir]).stdout;
    expect(log).toMatch(/acme-new-account/);
    expect(log).toMatch(/acme-deactivate-account/);
  });

  it('ok/keyChange moves the account to a new key; the old key no longer speaks for it, and a key in use is refused', async () => {
    const c = await client(true);
    await c.createAccount({ termsOfServiceAgreed: true });
    const url = c.getAccountUrl();
    const newKey = await acme.crypto.createPrivateEcdsaKey();
    await c.updateAccountKey(newKey);
    const viaNew = await client(false, newKey);
    await viaNew.createAccount({ onlyReturnExisting: true });
    expect(viaNew.getAccountUrl()).toBe(url);
    expect(ca(['audit', '--dir', dir]).stdout).toMatch(/acme-key-change/);
    // Another account cannot take a key that is already an account's.
    const other = await client(true);
    await other.createAccount({ termsOfServiceAgreed: true });
    await expect(other.updateAccountKey(newKey)).rejects.toThrow(/belongs to an account already/);
  });

  it.each<[string, () => Promise<unknown>, RegExp]>([
    ['fail/no external account binding', async () => (await client(false)).createAccount({ termsOfServiceAgreed: true }), /external account binding/],
    ['fail/onlyReturnExisting for a key with no account', async () => (await client(true)).createAccount({ onlyReturnExisting: true }), /no account has this key/],
    ['fail/a contact that is not mailto:', async () => (await client(true)).createAccount({ termsOfServiceAgreed: true, contact: ['tel:+1555'] }), /mailto/],
  ])('%s', async (_n, attempt, message) => {
    await expect(attempt()).rejects.toThrow(message);
  });

  it('fail/a replayed nonce is badNonce with a fresh one; a wrong content type is malformed; unknown paths are problems, never 5xx', async () => {
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const call = (method: string, path: string, body?: string, type = 'application/jose+json', extra: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
        // A Host of our own: the TLS name checked is still one the service certificate has.
        const req = request(`${svc.url}${path}`, { method, ca: rootPem, ...(extra.host ? { servername: 'localhost' } : {}), headers: { ...(body === undefined ? {} : { 'content-type': type }), ...extra } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const head = await call('HEAD', '/acme/new-nonce');
    expect(head.status).toBe(200);
    const nonce = String(head.headers['replay-nonce']);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = JSON.stringify(await new FlattenedSign(new TextEncoder().encode('{"termsOfServiceAgreed":true}')).setProtectedHeader({ alg: 'ES256', nonce, url: `${svc.url}/acme/new-account`, jwk: await exportJWK(key.publicKey) } as never).sign(key.privateKey));
    const first = await call('POST', '/acme/new-account', signed);
    expect(JSON.parse(first.body).type).toBe('urn:ietf:params:acme:error:externalAccountRequired');
    const replay = await call('POST', '/acme/new-account', signed);
    expect(replay.status).toBe(400);
    expect(replay.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(replay.body).type).toBe('urn:ietf:params:acme:error:badNonce');
    expect(replay.headers['replay-nonce']).toMatch(/^[A-Za-z0-9_-]{27}$/);
    const plain = await call('POST', '/acme/new-account', signed, 'application/json');
    expect([plain.status, JSON.parse(plain.body).type]).toEqual([415, 'urn:ietf:params:acme:error:malformed']);
    // Bodies a client got wrong, whatever the layer that notices: each a problem document with its 4xx, never a 5xx.
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const nullEab = JSON.stringify({ protected: part({ alg: 'ES256', nonce: (await call('HEAD', '/acme/new-nonce')).headers['replay-nonce'], url: `${svc.url}/acme/new-account`, jwk: await exportJWK(key.publicKey) }), payload: part({ externalAccountBinding: { protected: part(null), payload: 'e30', signature: 'AA' } }), signature: 'AA' });
    const cases: Array<[string, string, string | undefined, number, string?, Record<string, string>?]> = [
      ['GET', '/acme/nothing-here', undefined, 400],
      ['POST', '/acme/new-account', '{not json', 400],
      ['POST', '/acme/acct/x', '"a string"', 400],
      ['POST', '/acme/new-account', nullEab, 400],
      ['POST', '/acme/new-account', JSON.stringify({ protected: 'x'.repeat(70_000), payload: '', signature: '' }), 413],
      ['POST', '/acme/new-account', '{}', 415, 'application/jose+json; charset=latin9'],
      ['POST', '/acme/order/%zz', '{}', 400],
      ['GET', '/acme/renewal-info/%zz', undefined, 400],
      ['GET', '/acme/order/abc', undefined, 405],
      ['GET', '/acme/directory?x=1', undefined, 400],
      ['POST', '/acme/new-account', '{}', 415, 'application/jose+json', { 'content-encoding': 'gzip' }],
      ['GET', '/acme/directory', undefined, 400, undefined, { host: 'ca.internal>;rel="x"' }],
    ];
    for (const [m, p, b, status, type, extra] of cases) {
      const r = await call(m, p, b, type, extra);
      expect(r.status, `${m} ${p}`).toBe(status);
      expect(r.headers['content-type'], `${m} ${p}`).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(r.body).type, `${m} ${p}`).toMatch(/^urn:ietf:params:acme:error:/);
    }
    expect(svc.log()).not.toMatch(/unexpected error/);
  });
});

describe('ACME issuance (acme-client auto, http-01)', () => {
  it('ok/an order for a DNS name the account may have is validated over http-01, finalized and downloaded; the leaf is the CA\'s, audited under the account', async () => {
    const root = mkdtempSync(join(tmpdir(), 'meshca-acme-'));
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    // The challenge answers come from this test's server, on a port of its own: config.json points validation there.
    const answers = new Map<string, string>();
    const web = createServer((req, res) => {
      const token = (req.url ?? '').split('/').pop() ?? '';
      const body = answers.get(token);
      res.writeHead(body === undefined ? 404 : 200).end(body ?? '');
    });
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    const port = (web.address() as AddressInfo).port;
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, acme: { resolve: { 'web.acme.internal': '127.0.0.1', 'other.acme.internal': '127.0.0.1' }, ports: { http01: port } } }));
    const key = caJson<{ kid: string; hmacKey: string }>(['acme', 'eab', 'create', '--dir', dir, '--name', 'web', '--scope', 'issue:dns:*.acme.internal', '--json']);
    const svc = await startCa(dir);
    try {
      acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(join(dir, 'root.pem'), 'utf8') });
      const client = new acme.Client({ directoryUrl: `${svc.url}/acme/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: { kid: key.kid, hmacKey: key.hmacKey } });
      const [certKey, csr] = await acme.crypto.createCsr({ commonName: 'web.acme.internal', altNames: ['web.acme.internal'] }, await acme.crypto.createPrivateEcdsaKey());
      expect(certKey).toBeDefined();
      const pem = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // acme-client would check the answer itself first, through DNS: the CA's own check is what is tested.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => void answers.set(challenge.token, keyAuthorization),
        challengeRemoveFn: async (_authz, challenge) => void answers.delete(challenge.token),
      });
      const certs = pem.split('-----END CERTIFICATE-----').filter((p) => p.includes('BEGIN'));
      expect(certs).toHaveLength(2);
      const info = acme.crypto.readCertificateInfo(pem);
      expect(info.domains.altNames).toEqual(['web.acme.internal']);
      // In the inventory with the ACME account as the one who asked, as in the audit log.
      const listed = caJson<Array<{ dnsNames: string[]; requestedBy: string }>>(['list', '--dir', dir, '--json']);
      const account0 = (await client.createAccount({ onlyReturnExisting: true }), client.getAccountUrl().split('/').pop());
      expect(listed.find((c) => c.dnsNames.includes('web.acme.internal'))?.requestedBy).toBe(`acme:${account0}`);
      expect(ca(['list', '--dir', dir]).stdout).toMatch(new RegExp(`web\\.acme\\.internal\\s+acme:${account0}`));
      expect(ca(['audit', '--dir', dir]).stdout).toMatch(/acme:[A-Za-z0-9_-]+\s+issue/);
      // The account's orders, and the certificate's renewal window (ARI) under /acme/ as under /v1/.
      const account = await client.createAccount({ onlyReturnExisting: true });
      const orders = await (client as unknown as { api: { apiRequest: (url: string, payload: null, codes: number[]) => Promise<{ data: { orders: string[] } }> } }).api.apiRequest(String((account as { orders: string }).orders), null, [200]);
      expect(orders.data.orders).toHaveLength(1);
      const serialHex = new X509Certificate(pem).serialNumber.toLowerCase();
      const ari = await new Promise<{ status: number; body: string; retryAfter: string | undefined }>((resolve, reject) => {
        request(`${svc.url}/acme/renewal-info/AA.${Buffer.from(serialHex, 'hex').toString('base64url')}`, { ca: readFileSync(join(dir, 'root.pem'), 'utf8') }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body, retryAfter: res.headers['retry-after'] as string | undefined }));
        }).on('error', reject).end();
      });
      expect(ari.status).toBe(200);
      expect(JSON.parse(ari.body).suggestedWindow.start).toMatch(/^\d{4}-/);
      expect(Number(ari.retryAfter)).toBeGreaterThan(0);
      // A subscriber cannot say its CA was compromised (reasons 2 and 10 are a CA's to give).
      await expect(client.revokeCertificate(pem, { reason: 2 })).rejects.toThrow(/2 and 10 are for CAs/);
      expect(caJson<Array<{ dnsNames: string[]; status: string }>>(['list', '--dir', dir, '--json']).find((c) => c.dnsNames.includes('web.acme.internal'))?.status).toBe('valid');
      // A name the key does not grant is rejected at the order, and nothing is issued for it.
      await expect(client.createOrder({ identifiers: [{ type: 'dns', value: 'web.example.org' }] })).rejects.toThrow(/may not order/);
    } finally {
      web.close();
      await svc.stop();
    }
  }, 60_000);
});

/** The answer to one HTTPS request, trusting `rootPem`. */
function call(url: string, rootPem: string, method: string, body?: string, type = 'application/jose+json') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(url, { method, ca: rootPem, headers: body === undefined ? {} : { 'content-type': type } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('ACME refusals (acme-client): each is its ACME problem type, and nothing is issued', () => {
  let svc: RunningCa;
  let dir: string;
  let rootPem: string;
  let keys: Record<'web' | 'other' | 'cut' | 'spiffe', { kid: string; hmacKey: string }>;
  const answers = new Map<string, string>();
  const web = createServer((req, res) => {
    const body = answers.get((req.url ?? '').split('/').pop() ?? '');
    res.writeHead(body === undefined ? 404 : 200).end(body ?? '');
  });
  // The problem documents the CA answered, as acme-client received them (its errors keep only the detail).
  const seen: string[] = [];
  let interceptor: number;
  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'meshca-acme-')), 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    // down.acme.internal is sent to an address where nothing listens on that port.
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, acme: { resolve: { 'web.acme.internal': '127.0.0.1', 'down.acme.internal': '127.0.0.2' }, ports: { http01: (web.address() as AddressInfo).port } } }));
    keys = {
      web: caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'web', '--scope', 'issue:dns:*.acme.internal', '--json']),
      other: caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'other', '--scope', 'issue:dns:*.other.internal', '--json']),
      cut: caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'cut', '--scope', 'issue:spiffe:spiffe://acme.internal/ns/cut/*', '--json']),
      spiffe: caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'spiffe', '--scope', 'issue:spiffe:spiffe://acme.internal/**', '--json']),
    };
    svc = await startCa(dir);
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    acme.axios.defaults.httpsAgent = new Agent({ ca: rootPem });
    const record = (data: unknown) => {
      const type = (data as { type?: unknown } | undefined)?.type;
      if (typeof type === 'string') seen.push(type.replace('urn:ietf:params:acme:error:', ''));
    };
    interceptor = acme.axios.interceptors.response.use(
      (r) => (record(r.data), r),
      (e: { response?: { data?: unknown } }) => {
        record(e.response?.data);
        throw e;
      },
    );
  });
  afterAll(async () => {
    acme.axios.interceptors.response.eject(interceptor);
    web.close();
    await svc?.stop();
  });

  const client = async (eab?: { kid: string; hmacKey: string }, accountKey?: Buffer) =>
    new acme.Client({ directoryUrl: `${svc.url}/acme/directory`, accountKey: accountKey ?? (await acme.crypto.createPrivateEcdsaKey()), ...(eab ? { externalAccountBinding: eab } : {}) });
  const account = async (eab = keys.web) => {
    const c = await client(eab);
    await c.createAccount({ termsOfServiceAgreed: true });
    return c;
  };
  // No case here may issue anything: the CA's inventory stays empty.
  const issued = () => caJson<unknown[]>(['list', '--dir', dir, '--json']);
  const csrFor = async (name: string) => (await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey()))[1];
  /** Validates the order's http-01 challenge through the test's web server. */
  const authorize = async (c: acme.Client, order: acme.Order) => {
    const [authz] = await c.getAuthorizations(order);
    const http = authz!.challenges.find((ch) => ch.type === 'http-01')!;
    answers.set(http.token, await c.getChallengeKeyAuthorization(http));
    await c.completeChallenge(http);
    await c.waitForValidStatus(http);
  };
  /** A request signed as `c`'s account with a header of our own. */
  const signedAs = async (c: acme.Client, key: Buffer, header: Record<string, unknown>, payload: unknown) => {
    const nonce = String((await call(`${svc.url}/acme/new-nonce`, rootPem, 'HEAD')).headers['replay-nonce']);
    return JSON.stringify(await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'ES256', kid: c.getAccountUrl(), nonce, ...header } as never).sign(createPrivateKey(key)));
  };

  it.each<[string, () => Promise<unknown>, string]>([
    ['fail/no external account binding', async () => (await client()).createAccount({ termsOfServiceAgreed: true }), 'externalAccountRequired'],
    ['fail/an external account key for other names: the order is refused', async () => (await account(keys.other)).createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] }), 'rejectedIdentifier'],
    ['fail/a binding MAC\'d with another key than its kid names', async () => (await client({ kid: keys.web.kid, hmacKey: keys.other.hmacKey })).createAccount({ termsOfServiceAgreed: true }), 'unauthorized'],
    ['fail/a deactivated account\'s kid', async () => {
      const c = await account();
      await c.updateAccount({ status: 'deactivated' });
      return c.createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] });
    }, 'unauthorized'],
    ['fail/finalize before the authorizations are valid', async () => {
      const c = await account();
      return c.finalizeOrder(await c.createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] }), await csrFor('web.acme.internal'));
    }, 'orderNotReady'],
    ['fail/a CSR naming what the order does not', async () => {
      const c = await account();
      const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] });
      await authorize(c, order);
      return c.finalizeOrder(order, await csrFor('api.acme.internal'));
    }, 'badCSR'],
    ['fail/an identifier type this CA does not know', async () => (await account()).createOrder({ identifiers: [{ type: 'email', value: 'ops@acme.internal' }] }), 'unsupportedIdentifier'],
    ['fail/a wildcard (it needs dns-01, which this CA does not offer)', async () => (await account()).createOrder({ identifiers: [{ type: 'dns', value: '*.acme.internal' }] }), 'rejectedIdentifier'],
    ['fail/a name listed twice', async () => (await account()).createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }, { type: 'dns', value: 'WEB.acme.internal' }] }), 'malformed'],
    ['fail/a reserved SPIFFE ID, though the scope\'s pattern covers it', async () => (await account(keys.spiffe)).createOrder({ identifiers: [{ type: 'spiffe', value: 'spiffe://acme.internal/meshca/ca' }] }), 'rejectedIdentifier'],
    ['fail/finalize a ready order after the external account key was revoked', async () => {
      const c = await account(keys.cut);
      const order = await c.createOrder({ identifiers: [{ type: 'spiffe', value: 'spiffe://acme.internal/ns/cut/late' }] });
      expect(order.status).toBe('ready');
      expect(ca(['acme', 'eab', 'revoke', 'cut', '--dir', dir]).code).toBe(0);
      const [key, csr] = await acme.crypto.createCsr({ commonName: 'late' }, await acme.crypto.createPrivateEcdsaKey());
      expect(key).toBeDefined();
      // acme-client cannot put a URI SAN in a CSR; the CA refuses before reading it.
      return c.finalizeOrder(order, csr);
    }, 'unauthorized'],
  ])('%s', async (_name, attempt, type) => {
    seen.length = 0;
    await expect(attempt()).rejects.toThrow();
    expect(seen).toContain(type);
    expect(issued()).toEqual([]);
  });

  it('ok/refusals are audited, aggregated, under who the request claimed to be', async () => {
    await expect((await client({ kid: keys.web.kid, hmacKey: keys.other.hmacKey })).createAccount({ termsOfServiceAgreed: true })).rejects.toThrow();
    const c = await account(keys.other);
    await expect(c.createOrder({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] })).rejects.toThrow();
    const id = c.getAccountUrl().split('/').pop();
    type Row = { actor: string; action: string; outcome: string; detail: { code: string; count: number } };
    await waitFor('the refusals in the audit log', () => {
      const rows = caJson<Row[]>(['audit', '--dir', dir, '--json']).filter((r) => r.outcome === 'refused');
      return rows.some((r) => r.actor === `claimed:eab:${keys.web.kid}` && r.action === 'acme-new-account' && r.detail.code === 'acme:unauthorized') && rows.some((r) => r.actor === `acme:${id}` && r.action === 'acme-new-order' && r.detail.code === 'acme:rejectedIdentifier');
    }, 10_000, 250);
  });

  it('fail/a replayed nonce is badNonce, a protected header naming another URL is unauthorized', async () => {
    const key = await acme.crypto.createPrivateEcdsaKey();
    const c = await client(keys.web, key);
    await c.createAccount({ termsOfServiceAgreed: true });
    const body = await signedAs(c, key, { url: `${svc.url}/acme/new-order` }, { identifiers: [{ type: 'dns', value: 'web.acme.internal' }] });
    expect((await call(`${svc.url}/acme/new-order`, rootPem, 'POST', body)).status).toBe(201);
    const replay = await call(`${svc.url}/acme/new-order`, rootPem, 'POST', body);
    expect([replay.status, JSON.parse(replay.body).type]).toEqual([400, 'urn:ietf:params:acme:error:badNonce']);
    const elsewhere = await call(`${svc.url}/acme/new-order`, rootPem, 'POST', await signedAs(c, key, { url: `${svc.url}/acme/new-account` }, { identifiers: [{ type: 'dns', value: 'web.acme.internal' }] }));
    expect([elsewhere.status, JSON.parse(elsewhere.body).type]).toEqual([403, 'urn:ietf:params:acme:error:unauthorized']);
    expect(issued()).toEqual([]);
  });

  it('fail/a challenge whose target is not listening makes the authorization and the order invalid with a connection problem', async () => {
    const c = await account();
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'down.acme.internal' }] });
    const [authz] = await c.getAuthorizations(order);
    const http = authz!.challenges.find((ch) => ch.type === 'http-01')!;
    answers.set(http.token, await c.getChallengeKeyAuthorization(http));
    await c.completeChallenge(http);
    await expect(c.waitForValidStatus(http)).rejects.toThrow(/cannot reach down.acme.internal/);
    const after = await c.getOrder(order);
    expect(after).toMatchObject({ status: 'invalid', error: { type: 'urn:ietf:params:acme:error:connection' } });
    const [failed] = await c.getAuthorizations(after);
    expect(failed!.status).toBe('invalid');
    await expect(c.finalizeOrder(after, await csrFor('down.acme.internal'))).rejects.toThrow(/invalid/);
    expect(issued()).toEqual([]);
  }, 30_000);
});

describe('ACME rate limit', () => {
  it('fail/past ten times --rate-limit requests a second from one address: 429 rateLimited with Retry-After, and the next second is served', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'meshca-acme-')), 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    const svc = await startCa(dir, { args: ['--rate-limit', '1'] });
    try {
      const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      const answers = await Promise.all(Array.from({ length: 40 }, () => call(`${svc.url}/acme/new-nonce`, rootPem, 'GET')));
      const limited = answers.filter((a) => a.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status === 204).length).toBeGreaterThan(0);
      expect(JSON.parse(limited[0]!.body)).toMatchObject({ type: 'urn:ietf:params:acme:error:rateLimited', status: 429 });
      expect(limited[0]!.headers['retry-after']).toBe('1');
      await new Promise((r) => setTimeout(r, 1100));
      expect((await call(`${svc.url}/acme/new-nonce`, rootPem, 'GET')).status).toBe(204);
    } finally {
      await svc.stop();
    }
  });
});
