import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { FlattenedSign, exportJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyExternalAccountBinding, type EabKey } from '../../../src/acme/eab.js';

const URL_ = 'https://ca.test/acme/new-account';
const NOW = new Date('2026-06-15T12:00:00Z');
const key: EabKey = { kid: 'kid-1', name: 'ops', hmacKey: randomBytes(32), expiresAt: new Date('2026-07-01T00:00:00Z'), revokedAt: null };

async function binding(accountJwk: JWK, over: { alg?: string; kid?: string; url?: string; hmac?: Buffer; nonce?: string } = {}) {
  const header = { alg: over.alg ?? 'HS256', kid: over.kid ?? key.kid, url: over.url ?? URL_, ...(over.nonce ? { nonce: over.nonce } : {}) };
  return new FlattenedSign(new TextEncoder().encode(JSON.stringify(accountJwk))).setProtectedHeader(header as never).sign(new Uint8Array(over.hmac ?? key.hmacKey));
}

const account = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const other = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const verify = (b: unknown, keys: Record<string, EabKey> = { [key.kid]: key }) => verifyExternalAccountBinding(b, { url: URL_, accountJwk: account, now: NOW, lookup: async (kid) => keys[kid] });

describe('external account binding', () => {
  it('ok/a binding MAC\'d with the key, for this URL and this account key', async () => {
    expect((await verify(await binding(account))).kid).toBe('kid-1');
  });

  it.each<[string, () => Promise<unknown>, string, Record<string, EabKey>?]>([
    ['fail/none', async () => undefined, 'externalAccountRequired'],
    ['fail/an unknown key id', async () => binding(account, { kid: 'nope' }), 'unauthorized'],
    ['fail/the wrong HMAC key', async () => binding(account, { hmac: randomBytes(32) }), 'unauthorized'],
    ['fail/another account key', async () => binding(other), 'unauthorized'],
    ['fail/another URL', async () => binding(account, { url: 'https://ca.test/acme/key-change' }), 'unauthorized'],
    ['fail/a nonce in the binding', async () => binding(account, { nonce: 'x' }), 'malformed'],
    ['fail/a revoked key', async () => binding(account), 'unauthorized', { [key.kid]: { ...key, revokedAt: NOW } }],
    ['fail/an expired key', async () => binding(account), 'unauthorized', { [key.kid]: { ...key, expiresAt: NOW } }],
    ['fail/not a JWS', async () => 'x', 'malformed'],
  ])('%s', async (_n, make, type, keys) => {
    await expect(verify(await make(), keys)).rejects.toMatchObject({ code: 'ERR_ACME_PROBLEM', type });
  });
});
