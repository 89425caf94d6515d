// Verifying an ACME request body (RFC 8555 §6.2-6.5): a flattened JWS whose header names its URL, a fresh nonce and one key.

import { KeyObject } from 'node:crypto';
import { base64url, calculateJwkThumbprint, flattenedVerify, importJWK, type JWK } from 'jose';
import { problem } from './problem.js';

/** The signature algorithms accepted on ACME requests. */
export const ACME_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'EdDSA'] as const;

/** How the request must name its key: an embedded `jwk` (newAccount, revokeCert by the certificate's key) or an account `kid`. */
export type KeyMode = 'jwk' | 'kid' | 'either';

/** A verified ACME request. `payload` is undefined for POST-as-GET (an empty payload). */
export interface AcmeRequest {
  readonly alg: (typeof ACME_ALGORITHMS)[number];
  readonly url: string;
  /** Set when the request embedded its key (`jwk`). */
  readonly jwk: JWK | undefined;
  /** Set when the request named an account (`kid`), with that account's id. */
  readonly kid: string | undefined;
  /** The RFC 7638 thumbprint of the key that signed (the account key for `kid` requests). */
  readonly thumbprint: string;
  readonly key: KeyObject;
  readonly payload: Record<string, unknown> | undefined;
  /** The raw payload (base64url) and protected header, for a nested JWS (keyChange, EAB) to be checked against. */
  readonly raw: { readonly protected: string; readonly payload: string };
}

export interface VerifyOptions {
  /** The URL this request was sent to, as the server names it (the header's `url` must be exactly this). */
  readonly url: string;
  readonly keyMode: KeyMode;
  /** The account a `kid` (the account URL) names: its key and status, or undefined when there is no such account. */
  readonly accountKey: (kid: string) => Promise<{ jwk: JWK; status: string } | undefined>;
  /** Spends a nonce: true when it was issued by this CA and not used before. */
  readonly consumeNonce: (nonce: string) => Promise<boolean>;
  /** Imports a stored account key (default {@link importAccountKey}); a caller may keep what it imported. */
  readonly importAccountKey?: (jwk: JWK, alg: string) => Promise<{ jwk: JWK; key: KeyObject }>;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The JWK of a public key of an accepted kind and size; the key object to verify with. */
export async function publicJwk(jwk: unknown, alg: string): Promise<{ jwk: JWK; key: KeyObject }> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw problem('malformed', 'the jwk header is not a JSON Web Key');
  const given = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in given)) throw problem('badPublicKey', 'the jwk holds private key material (or is a symmetric key): send the public key only');
  let key: KeyObject;
  try {
    const imported = await importJWK(given as JWK, alg);
    if (imported instanceof Uint8Array) throw new Error('a symmetric key');
    key = KeyObject.from(imported);
  } catch (e) {
    throw problem('badPublicKey', `the jwk is not a usable ${alg} public key (${(e as Error).message})`);
  }
  if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw problem('badPublicKey', 'RSA account keys must have at least 2048 bits');
  // The canonical public JWK, whatever extra members the client sent.
  const canonical = key.export({ format: 'jwk' }) as JWK;
  return { jwk: canonical, key };
}

/** An account key imported to verify `alg` with; `badSignatureAlgorithm` when the key cannot (an Ed25519 key and ES256). */
export function importAccountKey(jwk: JWK, alg: string): Promise<{ jwk: JWK; key: KeyObject }> {
  return publicJwk(jwk, alg).catch(() => {
    throw problem('badSignatureAlgorithm', `the account key cannot sign with ${alg}`, { algorithms: [...ACME_ALGORITHMS] });
  });
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(part)));
  } catch {
    throw problem('malformed', `the ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw problem('malformed', `the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Checks an ACME request body: a flattened JWS (`protected`, `payload`, `signature`, nothing else) with an accepted
 * algorithm, exactly one of `jwk` and `kid` as the endpoint wants, `url` equal to where it was sent, a nonce this CA
 * issued and nobody used, and a signature that verifies. Each failure is the ACME problem the RFC names for it.
 */
export async function verifyAcmeRequest(body: unknown, o: VerifyOptions): Promise<AcmeRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw problem('malformed', 'the request body must be a flattened JWS (a JSON object with protected, payload and signature)');
  const jws = body as Record<string, unknown>;
  const extra = Object.keys(jws).filter((k) => !['protected', 'payload', 'signature'].includes(k));
  if (extra.length > 0) throw problem('malformed', `the JWS has members ACME does not allow (${extra.slice(0, 3).join(', ')}): use the flattened serialization with a protected header only`);
  if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') throw problem('malformed', 'protected, payload and signature must be strings');
  const header = decodeJson(jws.protected, 'protected header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ACME_ALGORITHMS as readonly string[]).includes(alg)) {
    throw problem('badSignatureAlgorithm', `the algorithm ${JSON.stringify(alg)} is not accepted`, { algorithms: [...ACME_ALGORITHMS] });
  }
  if (header.url !== o.url) throw problem('unauthorized', `the protected header's url is not the URL this request was sent to (${o.url})`);
  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid) throw problem('malformed', 'the protected header must carry exactly one of jwk and kid');
  if (o.keyMode === 'jwk' && !hasJwk) throw problem('malformed', 'this request is signed with the new key itself: send jwk, not kid');
  if (o.keyMode === 'kid' && !hasKid) throw problem('malformed', 'this request is signed with an account key: send kid (the account URL), not jwk');
  if (typeof header.nonce !== 'string' || header.nonce === '') throw problem('badNonce', 'the protected header carries no nonce');
  if (!(await o.consumeNonce(header.nonce))) throw problem('badNonce', 'the nonce was not issued by this server, or was used already, or expired');
  let jwk: JWK | undefined;
  let key: KeyObject;
  let kid: string | undefined;
  let deactivated: string | undefined;
  if (hasJwk) ({ jwk, key } = await publicJwk(header.jwk, alg));
  else {
    if (typeof header.kid !== 'string') throw problem('malformed', 'kid must be the account URL');
    kid = header.kid;
    const stored = await o.accountKey(kid);
    if (!stored) throw problem('accountDoesNotExist', `no account at ${kid.slice(0, 200)}`);
    // RFC 8555 §7.3.6: a deactivated account's requests are unauthorized (after its key has verified them, below).
    if (stored.status !== 'valid') deactivated = stored.status;
    ({ key } = await (o.importAccountKey ?? importAccountKey)(stored.jwk, alg));
  }
  try {
    await flattenedVerify({ protected: jws.protected, payload: jws.payload, signature: jws.signature }, key, { algorithms: [alg] });
  } catch {
    throw problem('malformed', 'the JWS signature does not verify');
  }
  if (deactivated !== undefined) throw problem('unauthorized', `the account is ${deactivated}: it can no longer make requests`);
  const payload = jws.payload === '' ? undefined : decodeJson(jws.payload, 'payload');
  const thumbprint = await calculateJwkThumbprint(jwk ?? (key.export({ format: 'jwk' }) as JWK), 'sha256');
  return { alg: alg as AcmeRequest['alg'], url: o.url, jwk, kid, thumbprint, key, payload, raw: { protected: jws.protected, payload: jws.payload } };
}
