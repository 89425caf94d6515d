import { describe, expect, it } from 'vitest';
import { createApiKey, verifyApiKey } from '../../../src/auth/api-keys.js';
import { apiKeyCaller, authorizeRead, authorizeRevoke, authorizeSign, certificateCaller, tokenCaller } from '../../../src/auth/caller.js';
import { createEnrollmentToken, verifyEnrollmentToken } from '../../../src/auth/enrollment-token.js';
import { parseScope, scopesAllowIdentity } from '../../../src/auth/scopes.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { generateKeyPair } from '../../../src/crypto/keys.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { settableClock, T0 } from '../../helpers/test-ca.js';

describe('scopes', () => {
  it.each([
    ['issue:spiffe://acme.internal/ns/prod/*', 'spiffe://acme.internal/ns/prod/api', true],
    ['issue:spiffe://acme.internal/ns/prod/*', 'spiffe://acme.internal/ns/prod/a/b', true],
    ['issue:spiffe://acme.internal/ns/prod/*', 'spiffe://acme.internal/ns/dev/api', false],
    ['issue:*.acme.internal', 'api.acme.internal', true],
    ['issue:*.acme.internal', 'acme.internal', false],
    ['issue:*.acme.internal', 'api.acme.internal.evil.com', false],
    ['issue:api.acme.internal', 'apixacme.internal', false],
    ['issue:*', 'anything', true],
    ['issue:10.0.0.*', '10.0.0.7', true],
  ])('%s vs %s → %s', (scope, identity, allowed) => {
    expect(scopesAllowIdentity([parseScope(scope)], identity)).toBe(allowed);
  });

  it.each(['admin', 'issue:', 'issue: x', 'ISSUE:*', ''])('fail/%j', (scope) => {
    expect(() => parseScope(scope)).toThrow(expect.objectContaining({ code: 'ERR_SCOPE_INVALID' }));
  });
});

describe('API keys', () => {
  it('ok/verify, then refuse once expired or revoked', () => {
    const store = openSqliteStore(':memory:', { create: true });
    const clock = settableClock();
    const { key } = createApiKey(store, clock, { name: 'ci', scopes: ['list'], expiresInSeconds: 3600, actor: 't' });
    expect(verifyApiKey(store, clock, key).record.name).toBe('ci');
    expect(store.findApiKey(key.split('_')[1]!)!.lastUsedAt!.getTime()).toBe(T0.getTime());
    expect(() => verifyApiKey(store, clock, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toThrow(expect.objectContaining({ code: 'ERR_APIKEY_INVALID' }));
    clock.set(addSeconds(T0, 3600));
    expect(() => verifyApiKey(store, clock, key)).toThrow(expect.objectContaining({ code: 'ERR_APIKEY_EXPIRED' }));
    clock.set(T0);
    store.revokeApiKey('ci', T0, { at: T0, actor: 't', action: 'apikey-revoke', target: null, outcome: 'ok' });
    expect(() => verifyApiKey(store, clock, key)).toThrow(expect.objectContaining({ code: 'ERR_APIKEY_REVOKED' }));
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

  it('ok/a token with no names asked gets all its names and its certificate TTL', () => {
    expect(authorizeSign(token, { commonName: 'ignored' })).toEqual({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', dnsNames: ['api.acme.internal'], ipAddresses: ['10.0.0.1'], ttlSeconds: 600 });
  });
  it('ok/a token with a subset of its names', () => {
    expect(authorizeSign(token, { commonName: 'api', dnsNames: ['API.acme.internal'] }).dnsNames).toEqual(['API.acme.internal']);
  });
  it.each([
    ['fail/token: other DNS', token, { commonName: 'api', dnsNames: ['x.acme.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/token: other CN', token, { commonName: 'other', dnsNames: ['api.acme.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/apikey: no issue scope', apiKey(['list']), { commonName: 'x', dnsNames: ['x'] }, 'ERR_FORBIDDEN'],
    ['fail/apikey: outside glob', apiKey(['issue:*.prod.internal']), { commonName: 'x', dnsNames: ['x.dev.internal'] }, 'ERR_IDENTITY_NOT_PERMITTED'],
    ['fail/certificate cannot sign', cert, { commonName: 'x', dnsNames: ['x'] }, 'ERR_FORBIDDEN'],
  ])('%s', (_n, caller, request, code) => {
    expect(() => authorizeSign(caller, request)).toThrow(expect.objectContaining({ code }));
  });
  it('revoke and read', () => {
    expect(() => authorizeRevoke(apiKey(['revoke']), 'bb')).not.toThrow();
    expect(() => authorizeRevoke(cert, 'aa')).not.toThrow();
    expect(() => authorizeRevoke(cert, 'bb')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
    expect(() => authorizeRevoke(token, 'aa')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
    expect(() => authorizeRead(apiKey(['list']), 'list')).not.toThrow();
    expect(() => authorizeRead(apiKey(['list']), 'audit')).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN' }));
  });
});
