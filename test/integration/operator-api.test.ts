// The API the dashboard uses, as any client may: API keys managed over the API without escalation, enrollment tokens
// within the caller's scopes, the audit log filtered and newest first, and the inventory paged by cursor.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';
import { ca } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';

const TD = 'acme.internal';

describe('the operator API', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-opapi-'));
  const dir = join(root, 'ca');
  let svc: RunningCa;
  let rootPem: string;
  let admin: string;
  let keymgr: string;
  beforeAll(async () => {
    expect(ca(['init', '--dir', dir, '--name', 'Ops CA', '--trust-domain', TD]).code).toBe(0);
    admin = ca(['apikey', 'create', '--dir', dir, '--name', 'admin', '--scope', `list,revoke,audit,apikeys,issue:spiffe:spiffe://${TD}/**`]).stdout.trim();
    keymgr = ca(['apikey', 'create', '--dir', dir, '--name', 'keymgr', '--scope', 'apikeys,list', '--expires', '2h']).stdout.trim();
    svc = await startCa(dir, { args: ['--rate-limit', '100000'] });
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const call = (key: string, method: string, path: string, body?: unknown) =>
    httpsRequest(`${svc.url}${path}`, { method, ca: rootPem, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  it('ok/a key made over the API expires no later than its maker; fail/asking for longer, scopes the maker lacks, or revoking a stronger key', async () => {
    const child = await call(keymgr, 'POST', '/v1/apikeys', { name: 'child', scopes: ['list'] });
    expect(child.status).toBe(201);
    const makerExpiry = (await call(keymgr, 'GET', '/v1/whoami')).json().expiresAt as string;
    expect(new Date(child.json().expiresAt).getTime()).toBeLessThanOrEqual(new Date(makerExpiry).getTime());
    const longer = await call(keymgr, 'POST', '/v1/apikeys', { name: 'child2', scopes: ['list'], expires: '90d' });
    expect([longer.status, longer.json().error.code]).toEqual([400, 'ERR_TTL_TOO_LONG']);
    const stronger = await call(keymgr, 'POST', '/v1/apikeys', { name: 'child3', scopes: ['list', 'revoke'] });
    expect([stronger.status, stronger.json().error.code]).toEqual([403, 'ERR_FORBIDDEN']);
    const cutOff = await call(keymgr, 'POST', '/v1/apikeys/admin/revoke', {});
    expect([cutOff.status, cutOff.json().error.code]).toEqual([403, 'ERR_FORBIDDEN']);
    expect((await call(admin, 'GET', '/v1/whoami')).status).toBe(200);
    // Its own kind it may revoke; the revoked key is refused at once.
    expect((await call(keymgr, 'POST', '/v1/apikeys/child/revoke', {})).status).toBe(200);
    expect((await call(child.json().key as string, 'GET', '/v1/whoami')).status).toBe(401);
  });

  it('ok/an enrollment token for an identity the key covers; fail/outside its scopes, reserved, or from a key without issue: scopes', async () => {
    const ok = await call(admin, 'POST', '/v1/tokens', { name: 'web', spiffeId: `spiffe://${TD}/ns/web` });
    expect(ok.status).toBe(201);
    expect(ok.json().token).toMatch(/^eyJ/);
    for (const [key, body, code] of [
      [admin, { name: 'x', dnsNames: ['x.acme.internal'] }, 'ERR_FORBIDDEN'],
      [admin, { name: 'x', spiffeId: `spiffe://${TD}/meshca/ca` }, 'ERR_IDENTITY_RESERVED'],
      [keymgr, { name: 'x', spiffeId: `spiffe://${TD}/ns/web` }, 'ERR_FORBIDDEN'],
      [admin, { name: 'x' }, 'ERR_NAME_REQUIRED'],
    ] as const) {
      const r = await call(key, 'POST', '/v1/tokens', body);
      expect([JSON.stringify(body), r.status, r.json().error.code]).toEqual([JSON.stringify(body), r.status >= 400 && r.status < 500 ? r.status : 0, code]);
    }
  });

  it('ok/the inventory pages by cursor both ways; the audit log newest first, filtered; fail/a date that is not one', async () => {
    for (let i = 0; i < 7; i++) {
      const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(generateKeyPair('ec-p256').privateKey, `p${i}`)), name: `p${i}`, spiffeId: `spiffe://${TD}/ns/page/p${i}`, ttl: `${i + 1}h` });
      expect((await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body })).status).toBe(201);
    }
    const pages = async (order: string) => {
      const seen: string[] = [];
      for (let after: string | null = null; ; ) {
        const r = (await call(admin, 'GET', `/v1/certificates?identity=spiffe://${TD}/ns/page/*&limit=3&order=${order}${after ? `&after=${after}` : ''}`)).json();
        seen.push(...r.certificates.map((c: { name: string }) => c.name));
        if (!r.next) return seen;
        after = r.next;
      }
    };
    expect(await pages('asc')).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(await pages('desc')).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
    const newest = (await call(admin, 'GET', '/v1/audit?order=desc&limit=5&action=issue&actor=apikey:admin')).json();
    expect(newest.events.map((e: { detail: { commonName: string } }) => e.detail.commonName)).toEqual(['p6', 'p5', 'p4', 'p3', 'p2']);
    const older = (await call(admin, 'GET', `/v1/audit?order=desc&limit=5&action=issue&actor=apikey:admin&before=${newest.next}`)).json();
    expect(older.events.map((e: { detail: { commonName: string } }) => e.detail.commonName)).toEqual(['p1', 'p0']);
    expect(older.next).toBeNull();
    for (const since of ['2026-02-30T00:00:00Z', '2026-12-06junk', 'yesterday']) {
      const r = await call(admin, 'GET', `/v1/audit?since=${encodeURIComponent(since)}`);
      expect([since, r.status, r.json().error.code]).toEqual([since, 400, 'ERR_QUERY_INVALID']);
    }
    const verify = (await call(admin, 'GET', '/v1/audit/verify')).json();
    expect(verify).toMatchObject({ ok: true });
  });
});
