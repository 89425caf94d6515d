// External Account Binding (RFC 8555 §7.3.4): a new ACME account proves it holds an HMAC key the operator handed out.

import { base64url, flattenedVerify, type JWK } from 'jose';
import { problem } from './problem.js';

/** An EAB key as the store gives it back for checking (the HMAC key itself, decrypted). */
export interface EabKey {
  readonly kid: string;
  readonly name: string;
  readonly hmacKey: Buffer;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
}

const EAB_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

/**
 * Checks `externalAccountBinding` of a newAccount request: a flattened JWS, MAC'd with the EAB key named by its
 * `kid`, for the newAccount URL, over exactly the account key the outer request carries. Returns the EAB key.
 * A missing binding is `externalAccountRequired`; anything else wrong with it is `unauthorized` or `malformed`.
 */
export async function verifyExternalAccountBinding(binding: unknown, o: { url: string; accountJwk: JWK; now: Date; lookup: (kid: string) => Promise<EabKey | undefined> }): Promise<EabKey> {
  if (binding === undefined) throw problem('externalAccountRequired', 'this CA requires an external account binding: ask the operator for a key id and HMAC key (ca acme eab create) and pass them to your client (--eab-kid, --eab-hmac-key)');
  if (typeof binding !== 'object' || binding === null || Array.isArray(binding)) throw problem('malformed', 'externalAccountBinding must be a flattened JWS');
  const jws = binding as Record<string, unknown>;
  if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') throw problem('malformed', 'externalAccountBinding must have protected, payload and signature strings');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(base64url.decode(jws.protected)).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw problem('malformed', 'the external account binding header is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw problem('malformed', 'the external account binding header is not a JSON object');
  if (typeof header.alg !== 'string' || !EAB_ALGORITHMS.includes(header.alg)) throw problem('badSignatureAlgorithm', `the external account binding must be MAC'd with ${EAB_ALGORITHMS.join(', ')}`, { algorithms: EAB_ALGORITHMS });
  if (header.url !== o.url) throw problem('unauthorized', 'the external account binding is for another URL');
  if ('nonce' in header) throw problem('malformed', 'the external account binding must not carry a nonce');
  if (typeof header.kid !== 'string' || header.kid === '') throw problem('malformed', 'the external account binding names no key id');
  const key = await o.lookup(header.kid);
  // One answer for unknown, revoked and expired keys alike to whoever does not hold the key; the audit says which.
  if (!key) throw problem('unauthorized', `external account key ${header.kid.slice(0, 64)} is not known to this CA`);
  try {
    await flattenedVerify({ protected: jws.protected, payload: jws.payload, signature: jws.signature }, new Uint8Array(key.hmacKey), { algorithms: EAB_ALGORITHMS });
  } catch {
    throw problem('unauthorized', 'the external account binding MAC does not verify with that key');
  }
  if (key.revokedAt !== null) throw problem('unauthorized', `external account key ${key.kid} was revoked`);
  if (key.expiresAt <= o.now) throw problem('unauthorized', `external account key ${key.kid} expired at ${key.expiresAt.toISOString()}`);
  let bound: unknown;
  try {
    bound = JSON.parse(Buffer.from(base64url.decode(jws.payload)).toString('utf8'));
  } catch {
    throw problem('malformed', 'the external account binding payload is not the account key');
  }
  if (!sameJwk(bound, o.accountJwk)) throw problem('unauthorized', 'the external account binding is for another account key');
  return key;
}

/** True when `a` is the same public key as `b` (the members that define it, RFC 7638). */
function sameJwk(a: unknown, b: JWK): boolean {
  if (typeof a !== 'object' || a === null) return false;
  const x = a as Record<string, unknown>;
  const members = b.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : b.kty === 'RSA' ? ['e', 'kty', 'n'] : ['crv', 'kty', 'x'];
  return members.every((m) => x[m] === (b as Record<string, unknown>)[m]);
}
