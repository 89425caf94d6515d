import { generateKeyPairSync, sign } from 'node:crypto';
import { FlattenedSign, exportJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyAcmeRequest, type KeyMode } from '../../../src/acme/jws.js';

const URL_ = 'https://ca.test/acme/new-order';
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 });

async function jws(header: Record<string, unknown>, payload: unknown, key = ec.privateKey, alg = 'ES256') {
  const bytes = new TextEncoder().encode(payload === '' ? '' : JSON.stringify(payload));
  return new FlattenedSign(bytes).setProtectedHeader({ alg, url: URL_, nonce: 'n1', ...header } as never).sign(key);
}

/** A JWS signed with a 1024-bit RSA key (jose refuses to make one, as it should). */
async function rsa1024(header: Record<string, unknown>) {
  const protectedPart = Buffer.from(JSON.stringify({ alg: 'RS256', url: URL_, nonce: 'n1', ...header })).toString('base64url');
  const payload = Buffer.from('{}').toString('base64url');
  return { protected: protectedPart, payload, signature: sign('sha256', Buffer.from(`${protectedPart}.${payload}`), rsaSmall.privateKey).toString('base64url') };
}

function options(over: Partial<{ keyMode: KeyMode; url: string; accounts: Record<string, JWK>; deactivated: string[]; nonces: Set<string> }> = {}) {
  const nonces = over.nonces ?? new Set(['n1']);
  return {
    url: over.url ?? URL_,
    keyMode: over.keyMode ?? 'either',
    accountKey: async (kid: string) => {
      const jwk = (over.accounts ?? {})[kid];
      return jwk === undefined ? undefined : { jwk, status: over.deactivated?.includes(kid) ? 'deactivated' : 'valid' };
    },
    consumeNonce: async (n: string) => nonces.delete(n),
  };
}

describe('verifyAcmeRequest', () => {
  it('ok/an embedded jwk (ES256, EdDSA), a kid, and POST-as-GET', async () => {
    const jwk = await exportJWK(ec.publicKey);
    const a = await verifyAcmeRequest(await jws({ jwk }, { termsOfServiceAgreed: true }), options({ keyMode: 'jwk' }));
    expect(a).toMatchObject({ alg: 'ES256', kid: undefined, payload: { termsOfServiceAgreed: true } });
    expect(a.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const edJwk = await exportJWK(ed.publicKey);
    expect((await verifyAcmeRequest(await jws({ jwk: edJwk }, {}, ed.privateKey, 'EdDSA'), options())).alg).toBe('EdDSA');
    const b = await verifyAcmeRequest(await jws({ kid: 'https://ca.test/acme/acct/1' }, ''), options({ keyMode: 'kid', accounts: { 'https://ca.test/acme/acct/1': jwk } }));
    expect(b).toMatchObject({ kid: 'https://ca.test/acme/acct/1', payload: undefined, thumbprint: a.thumbprint });
  });

  it.each<[string, () => Promise<[unknown, ReturnType<typeof options>]>, string]>([
    ['fail/not a JWS', async () => ['hello', options()], 'malformed'],
    ['fail/a compact or general JWS member', async () => [{ ...(await jws({ jwk: await exportJWK(ec.publicKey) }, {})), header: {} }, options()], 'malformed'],
    ['fail/HS256', async () => [await jws({ jwk: await exportJWK(ec.publicKey) }, {}, ec.privateKey, 'ES256').then((j) => ({ ...j, protected: Buffer.from(JSON.stringify({ alg: 'HS256', url: URL_, nonce: 'n1' })).toString('base64url') })), options()], 'badSignatureAlgorithm'],
    ['fail/another URL', async () => [await jws({ jwk: await exportJWK(ec.publicKey) }, {}), options({ url: 'https://ca.test/acme/new-account' })], 'unauthorized'],
    ['fail/both jwk and kid', async () => [await jws({ jwk: await exportJWK(ec.publicKey), kid: 'x' }, {}), options()], 'malformed'],
    ['fail/kid where jwk is wanted', async () => [await jws({ kid: 'x' }, {}), options({ keyMode: 'jwk' })], 'malformed'],
    ['fail/a nonce used before', async () => [await jws({ jwk: await exportJWK(ec.publicKey) }, {}), options({ nonces: new Set() })], 'badNonce'],
    ['fail/an unknown account', async () => [await jws({ kid: 'https://ca.test/acme/acct/9' }, {}), options({ keyMode: 'kid' })], 'accountDoesNotExist'],
    ['fail/the kid of a deactivated account (RFC 8555 §7.3.6)', async () => [await jws({ kid: 'https://ca.test/acme/acct/1' }, {}), options({ keyMode: 'kid', accounts: { 'https://ca.test/acme/acct/1': await exportJWK(ec.publicKey) }, deactivated: ['https://ca.test/acme/acct/1'] })], 'unauthorized'],
    ['fail/the kid of a deactivated account, signed by another key', async () => [await jws({ kid: 'https://ca.test/acme/acct/1' }, {}, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), options({ keyMode: 'kid', accounts: { 'https://ca.test/acme/acct/1': await exportJWK(ec.publicKey) }, deactivated: ['https://ca.test/acme/acct/1'] })], 'malformed'],
    ['fail/a private key in jwk', async () => [await jws({ jwk: await exportJWK(ec.privateKey) }, {}), options()], 'badPublicKey'],
    ['fail/RSA under 2048 bits', async () => [await rsa1024({ jwk: await exportJWK(rsaSmall.publicKey) }), options()], 'badPublicKey'],
    ['fail/a jwk of another kind than alg', async () => [await jws({ jwk: await exportJWK(ed.publicKey) }, {}), options()], 'badPublicKey'],
    ['fail/a signature by another key of the same kind', async () => [await jws({ jwk: await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) }, {}), options()], 'malformed'],
    ['fail/a tampered payload', async () => [{ ...(await jws({ jwk: await exportJWK(ec.publicKey) }, { a: 1 })), payload: Buffer.from('{"a":2}').toString('base64url') }, options()], 'malformed'],
    ['fail/a payload that is not JSON', async () => [await new FlattenedSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'ES256', url: URL_, nonce: 'n1', jwk: await exportJWK(ec.publicKey) } as never).sign(ec.privateKey), options()], 'malformed'],
  ])('%s', async (_name, make, type) => {
    const [body, o] = await make();
    await expect(verifyAcmeRequest(body, o)).rejects.toMatchObject({ code: 'ERR_ACME_PROBLEM', type });
  });
});
