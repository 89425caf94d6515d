import { describe, expect, it } from 'vitest';
import { createApiKey, verifyApiKey } from '../../../src/auth/api-keys.js';
import { apiKeyCaller, authorizeRead, authorizeRevoke, authorizeSign, certificateCaller, tokenCaller } from '../../../src/auth/caller.js';
import { createEnrollmentToken, verifyEnrollmentToken } from '../../../src/auth/enrollment-token.js';
import { parseScope, scopesAllowIdentity } from '../../../src/auth/scopes.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { generateKeyPair } from '../../../src/crypto/keys.js';
import { BACKENDS } from '../../helpers/databases.js';
import { settableClock, T0, testStore } from '../../helpers/test-ca.js';

describe('scopes', () => {
  const spiffe = (value: string) => ({ kind: 'spiffe' as const, value });
  const dns = (value: string) => ({ kind: 'dns' as const, value });
  const ip = (value: string) => ({ kind: 'ip' as const, value });

  it.each([
    ['issue:spiffe:spiffe://acme.internal/ns/prod/*', spiffe('spiffe://acme.internal/ns/prod/api'), true],
    ['issue:spiffe:spiffe://acme.internal/ns/prod/*', spiffe('spiffe://acme.internal/ns/prod/a/b'), false],
    ['issue:spiffe:spiffe://acme.internal/ns/prod/**', spiffe('spiffe://acme.internal/ns/prod/a/b'), true],
    ['issue:spiffe:spiffe://acme.internal/ns/prod/**', spiffe('spiffe://acme.internal/ns/prod'), false],
    ['issue:spiffe:spiffe://acme.internal/ns/*/api', spiffe('spiffe://acme.internal/ns/dev/api'), true],
    ['issue:spiffe:spiffe://acme.internal/ns/prod/*', spiffe('spiffe://acme.internal/ns/dev/api'), false],
    ['issue:spiffe://acme.internal/ns/prod/*', spiffe('spiffe://acme.internal/ns/prod/api'), true],
    ['issue:dns:*.acme.internal', dns('api.acme.internal'), true],
    ['issue:dns:*.acme.internal', dns('a.b.acme.internal'), false],
    ['issue:dns:**.acme.internal', dns('a.b.acme.internal'), true],
    ['issue:dns:**.acme.internal', dns('acme.internal'), false],
    ['issue:dns:api-*.acme.internal', dns('api-v2.acme.internal'), true],
    ['issue:dns:API.acme.internal', dns('api.acme.internal'), true],
    ['issue:*.acme.internal', dns('api.acme.internal'), true],
    ['issue:*.acme.internal', dns('acme.internal'), false],
    ['issue:*.acme.internal', dns('api.acme.internal.evil.com'), false],
    ['issue:api.acme.internal', dns('apixacme.internal'), false],
    ['issue:*', dns('anything'), true],
    ['issue:*', dns('any.thing'), false],
    ['issue:ip:10.0.0.0/24', ip('10.0.0.7'), true],
    ['issue:ip:10.0.0.0/24', ip('10.0.1.7'), false],
    ['issue:ip:10.0.0.7', ip('10.0.0.7'), true],
    ['issue:ip:fd00::/8', ip('fd12::1'), true],
    ['issue:ip:fd00::/8', ip('10.0.0.1'), false],
    ['issue:ip:10.0.0.0/8', ip('::ffff:10.0.0.1'), false],
    ['issue:10.0.0.*', ip('10.0.0.7'), true],
    // The findings: an untyped glob matches only the type its form implies.
    ['issue:*.acme.internal', spiffe('spiffe://acme.internal/ns/prod/admin.acme.internal'), false],
    ['issue:dns:*.acme.internal', spiffe('spiffe://acme.internal/ns/prod/admin.acme.internal'), false],
    ['issue:10.0.0.*', dns('10.0.0.foo'), false],
    ['issue:spiffe://acme.internal/*', dns('acme.internal'), false],
  ])('%s vs %j → %s', async (scope, identity, allowed) => {
    expect(scopesAllowIdentity([parseScope(scope)], identity)).toBe(allowed);
  });

  it('ok/every type against every other: a scope matches identities of its own type only', async () => {
    const broad = { spiffe: parseScope('issue:spiffe:spiffe://*/**'), dns: parseScope('issue:dns:**'), ip: parseScope('issue:ip:0.0.0.0/0') };
    // Identities that look like the other types.
    const identities = { spiffe: spiffe('spiffe://acme.internal/10.0.0.1/api.acme.internal'), dns: dns('spiffe.acme.internal'), ip: ip('10.0.0.1') };
    for (const [scopeKind, scope] of Object.entries(broad)) {
      for (const [identityKind, identity] of Object.entries(identities)) {
        expect(scopesAllowIdentity([scope], identity), `${scope.text} vs ${identity.value}`).toBe(scopeKind === identityKind);
      }
    }
  });

  it.each([
    ['issue:*.acme.internal', 'issue:dns:*.acme.internal'],
    ['issue:spiffe://acme.internal/ns/*', 'issue:spiffe:spiffe://acme.internal/ns/*'],
    ['issue:10.0.0.*', 'issue:ip:10.0.0.0/24'],
    ['issue:10.*', 'issue:ip:10.0.0.0/8'],
    ['issue:10.0.0.0/16', 'issue:ip:10.0.0.0/16'],
    ['issue:dns:API.Acme.internal', 'issue:dns:api.acme.internal'],
    ['issue:ip:fd00:0::/8', 'issue:ip:fd00::/8'],
    ['list', 'list'],
  ])('ok/%s is stored as %s', async (given, typed) => {
    expect(parseScope(given).text).toBe(typed);
  });

  it.each([
    'admin', 'issue:', 'issue: x', 'ISSUE:*', '',
    'issue:10.*.0.1', 'issue:ip:10.0.0.1/24', 'issue:ip:10.0.0.0/33', 'issue:ip:999.1.1.1', 'issue:ip:*',
    'issue:dns:a**b.acme.internal', 'issue:dns:under_score.acme.internal', 'issue:dns:trailing.dot.',
    'issue:spiffe:https://acme.internal/x', 'issue:spiffe:spiffe://acme.internal/a**', 'issue:spiffe:spiffe://**/x', 'issue:spiffe:spiffe://acme.internal',
  ])('fail/%j', async (scope) => {
    expect(() => parseScope(scope)).toThrow(expect.objectContaining({ code: 'ERR_SCOPE_INVALID' }));
  });
});

describe.each(BACKENDS)('API keys on %s', (backend) => {
  it('ok/verify, then refuse once expired or revoked', async () => {
    const store = await testStore(backend);
    const clock = settableClock();
    const { key } = await createApiKey(store, clock, { name: 'ci', scopes: ['list'], expiresInSeconds: 3600, actor: 't' });
    expect((await verifyApiKey(store, clock, key)).record.name).toBe('ci');
    expect((await store.findApiKey(key.split('_')[1]!))!.lastUsedAt!.getTime()).toBe(T0.getTime());
    await expect(verifyApiKey(store, clock, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).rejects.toThrow(expect.objectContaining({ code: 'ERR_APIKEY_INVALID' }));
    clock.set(addSeconds(T0, 3600));
    await expect(verifyApiKey(store, clock, key)).rejects.toThrow(expect.objectContaining({ code: 'ERR_APIKEY_EXPIRED' }));
    clock.set(T0);
    await store.revokeApiKey('ci', T0, { at: T0, actor: 't', action: 'apikey-revoke', target: null, outcome: 'ok' });
    await expect(verifyApiKey(store, clock, key)).rejects.toThrow(expect.objectContaining({ code: 'ERR_APIKEY_REVOKED' }));
  });
});

describe('enrollment tokens', () => {
  const key = generateKeyPair('ec-p256').privateKey;
  const grant = { name: 'api', spiffeId: 'spiffe://acme.internal/api', dnsNames: ['api.acme.internal'], ipAddresses: [], certTtlSeconds: undefined };

  it('ok/round trip, then expired', async () => {
    const clock = settableClock();
    const { token, jti } = await createEnrollmentToken(key, clock, 'acme.internal', grant, 300);
    const verified = await verifyEnrollmentToken(key, clock, 'acme.internal', token);
    expect(verified).toMatchObject({ ...grant, jti, expiresAt: addSeconds(T0, 300) });
    clock.set(addSeconds(T0, 301));
    await expect(verifyEnrollmentToken(key, clock, 'acme.internal', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
  });

  it.each([
    ['fail/another trust domain', 'other.internal', key],
    ['fail/another key', 'acme.internal', generateKeyPair('ec-p256').privateKey],
  ])('%s', async (_n, td, verifyKey) => {
    const clock = settableClock();
    const { token } = await createEnrollmentToken(key, clock, 'acme.internal', grant);
    await expect(verifyEnrollmentToken(verifyKey, clock, td, token)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });
});

describe('authorization', () => {
  const token = tokenCaller({ name: 'api', spiffeId: 'spiffe://acme.internal/api', dnsNames: ['api.acme.internal'], ipAddresses: ['10.0.0.1'], certTtlSeconds: 600, jti: 'j', expiresAt: T0 });
  const apiKey = (scopes: string[]) => apiKeyCaller({ record: { name: 'k' } as never, scopes: scopes.map(parseScope) });
  const cert = certificateCaller({ serial: 'aa', spiffeId: 'spiffe://acme.internal/api' } as never);

  const ca = { defaultTtlSeconds: 86400 };
  const limit = { seconds: 600, by: 'the enrollment token' };

  it('ok/a token with no names asked gets all its names, and its certificate TTL as both default and maximum', async () => {
    expect(authorizeSign(token, { commonName: 'ignored' }, ca)).toEqual({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', dnsNames: ['api.acme.internal'], ipAddresses: ['10.0.0.1'], ttlSeconds: 600, ttlLimit: limit });
  });
  it('ok/a token with a subset of its names; a longer TTL asked for is capped by the token, not granted', async () => {
    const r = authorizeSign(token, { commonName: 'api', dnsNames: ['API.acme.internal'], ttlSeconds: 7 * 86400 }, ca);
    expect(r).toMatchObject({ dnsNames: ['API.acme.internal'], ttlSeconds: 7 * 86400, ttlLimit: limit });
  });
  it('ok/a token that names no certificate TTL allows the CA default at most', async () => {
    const old = tokenCaller({ name: 'api', spiffeId: undefined, dnsNames: ['api.acme.internal'], ipAddresses: [], certTtlSeconds: undefined, jti: 'j', expiresAt: T0 });
    expect(authorizeSign(old, { commonName: 'api', ttlSeconds: 7 * 86400 }, ca).ttlLimit).toEqual({ seconds: 86400, by: 'the enrollment token' });
  });
  it.each([
    ['fail/token: other DNS', token, { commonName: 'api', dnsNames: ['x.acme.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/token: other CN', token, { commonName: 'other', dnsNames: ['api.acme.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/apikey: no issue scope', apiKey(['list']), { commonName: 'x', dnsNames: ['x'] }, 'ERR_FORBIDDEN'],
    ['fail/apikey: outside glob', apiKey(['issue:*.prod.internal']), { commonName: 'x', dnsNames: ['x.dev.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/apikey: a DNS glob never grants a SPIFFE ID', apiKey(['issue:*.acme.internal']), { commonName: 'x', spiffeId: 'spiffe://acme.internal/ns/prod/admin.acme.internal' }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/apikey: an IP glob never grants a DNS name', apiKey(['issue:10.0.0.*']), { commonName: 'x', dnsNames: ['10.0.0.foo'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/certificate cannot sign', cert, { commonName: 'x', dnsNames: ['x'] }, 'ERR_FORBIDDEN'],
  ])('%s', async (_n, caller, request, code) => {
    expect(() => authorizeSign(caller, request, ca)).toThrow(expect.objectContaining({ code }));
  });
  it('revoke and read', async () => {
    expect(() => authorizeRevoke(apiKey(['revoke']), 'bb')).not.toThrow();
    expect(() => authorizeRevoke(cert, 'aa')).not.toThrow();
    expect(() => authorizeRevoke(cert, 'bb')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
    expect(() => authorizeRevoke(token, 'aa')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
    expect(() => authorizeRead(apiKey(['list']), 'list')).not.toThrow();
    expect(() => authorizeRead(apiKey(['list']), 'audit')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
  });
});
