// The audit key (private/audit.key, P-256): derives the HMAC key that seals the audit chain, and signs the chain heads the service publishes.

import { createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, jwtVerify, type JWK } from 'jose';
import { CaError } from '../errors.js';

/**
 * The 32-byte HMAC key that seals audit rows: HKDF-SHA256 of the audit key's private scalar, so one file holds
 * both the sealing secret and the key that signs heads, each used for one purpose only.
 */
export function auditSealKey(key: KeyObject): Buffer {
  const d = key.export({ format: 'jwk' }).d;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || d === undefined) throw new TypeError('auditSealKey needs the EC private audit key');
  return Buffer.from(hkdfSync('sha256', Buffer.from(d, 'base64url'), 'meshca audit', 'audit chain seal v1', 32));
}

/** The chain's head at a moment: the last row's id and seal. */
export interface AuditHead {
  readonly trustDomain: string;
  readonly id: number;
  /** Hex HMAC seal of row `id`. */
  readonly seal: string;
  readonly at: Date;
}

const TYP = 'meshca-audit-head+jwt';
const ISSUER = 'meshca';

/** The public half of the audit key as a JWK and its RFC 7638 thumbprint (what a monitor pins). */
export async function auditPublicKey(key: KeyObject): Promise<{ jwk: JWK; thumbprint: string }> {
  const jwk = await exportJWK(key.type === 'private' ? createPublicKey(key) : key);
  return { jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}

/**
 * Signs a head as a compact JWS (ES256, `typ` meshca-audit-head+jwt, `kid` the key's thumbprint). Recorded
 * outside the CA (a log collector, a ticket), it proves the log once held row `id` with this seal: a later log
 * that lacks it was truncated.
 *
 * @example
 * const jws = await signAuditHead(key, { trustDomain: 'acme.internal', id: 42, seal: 'ab…', at: new Date() });
 */
export async function signAuditHead(key: KeyObject, head: AuditHead): Promise<string> {
  const { thumbprint } = await auditPublicKey(key);
  return new SignJWT({ td: head.trustDomain, id: head.id, seal: head.seal })
    .setProtectedHeader({ alg: 'ES256', typ: TYP, kid: thumbprint })
    .setIssuer(ISSUER)
    .setSubject('audit-head')
    .setIssuedAt(Math.floor(head.at.getTime() / 1000))
    .sign(key);
}

/** Verifies a signed head with the audit key (its public half); refuses anything else with `ERR_AUDIT_HEAD_INVALID`. */
export async function verifyAuditHead(key: KeyObject, jws: string): Promise<AuditHead> {
  const invalid = (why: string) => new CaError('ERR_AUDIT_HEAD_INVALID', `audit: the signed head ${why}`);
  let payload;
  try {
    ({ payload } = await jwtVerify(jws.trim(), key.type === 'private' ? createPublicKey(key) : key, { issuer: ISSUER, subject: 'audit-head', typ: TYP, algorithms: ['ES256'] }));
  } catch {
    throw invalid('is not signed by this CA\'s audit key');
  }
  const { td, id, seal, iat } = payload as { td?: unknown; id?: unknown; seal?: unknown; iat?: unknown };
  if (typeof td !== 'string' || !Number.isSafeInteger(id) || (id as number) < 1 || typeof seal !== 'string' || !/^[0-9a-f]{64}$/.test(seal) || typeof iat !== 'number') {
    throw invalid('is not a meshca audit head');
  }
  return { trustDomain: td, id: id as number, seal, at: new Date(iat * 1000) };
}
