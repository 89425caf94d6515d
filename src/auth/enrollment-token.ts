// Enrollment tokens: short-lived, single-use ES256 JWTs binding exactly the identities a service's first certificate may carry.

import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { wholeSeconds, type Clock } from '../crypto/clock.js';
import { CaError } from '../errors.js';
import { parseDnsName, parseIpAddress } from '../identity/names.js';
import { isReservedSpiffeId } from '../identity/reserved.js';
import { parseSpiffeIdIn, type TrustDomain } from '../identity/spiffe.js';
import { plainText } from '../identity/text.js';

/** Tokens live 5 minutes unless asked otherwise, and never more than an hour. */
export const TOKEN_DEFAULT_SECONDS = 5 * 60;
export const TOKEN_MAX_SECONDS = 60 * 60;
const ISSUER = 'meshca';

/** What a token allows: one certificate named `name` with exactly these identities. */
export interface EnrollmentGrant {
  readonly name: string;
  readonly spiffeId: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** Requested certificate lifetime, if the token fixes one. */
  readonly certTtlSeconds: number | undefined;
}

/** A verified token: the grant, its id and when it stops being usable. */
export interface VerifiedToken extends EnrollmentGrant {
  readonly jti: string;
  readonly expiresAt: Date;
}

const audienceFor = (trustDomain: string): string => `meshca:enroll:${trustDomain}`;

/** Signs a token for `grant`, valid `lifetimeSeconds` from now. */
export async function createEnrollmentToken(key: KeyObject, clock: Clock, trustDomain: string, grant: EnrollmentGrant, lifetimeSeconds = TOKEN_DEFAULT_SECONDS): Promise<{ token: string; jti: string; expiresAt: Date }> {
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > TOKEN_MAX_SECONDS) {
    throw new CaError('ERR_TTL_TOO_LONG', 'auth: an enrollment token lives at most 1h');
  }
  const now = Math.floor(wholeSeconds(clock.now()).getTime() / 1000);
  const jti = randomUUID();
  const token = await new SignJWT({
    ...(grant.spiffeId === undefined ? {} : { spiffe_id: grant.spiffeId }),
    dns: [...grant.dnsNames],
    ip: [...grant.ipAddresses],
    ...(grant.certTtlSeconds === undefined ? {} : { cert_ttl: grant.certTtlSeconds }),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(audienceFor(trustDomain))
    .setSubject(grant.name)
    .setJti(jti)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(key);
  return { token, jti, expiresAt: new Date((now + lifetimeSeconds) * 1000) };
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);

/**
 * Verifies a token's signature, issuer, audience (this trust domain), expiry and shape. Whether it was already
 * spent is decided when the certificate is recorded, in the same transaction.
 */
export async function verifyEnrollmentToken(key: KeyObject, clock: Clock, trustDomain: string, token: string): Promise<VerifiedToken> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key.type === 'private' ? createPublicKey(key) : key, {
      issuer: ISSUER,
      audience: audienceFor(trustDomain),
      algorithms: ['ES256'],
      currentDate: clock.now(),
      requiredClaims: ['jti', 'sub', 'exp', 'iat'],
    }));
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new CaError('ERR_TOKEN_EXPIRED', 'auth: the enrollment token has expired');
    throw new CaError('ERR_TOKEN_INVALID', 'auth: the enrollment token is not valid for this CA');
  }
  const dns = strings(payload.dns ?? []);
  const ip = strings(payload.ip ?? []);
  const spiffeId = payload.spiffe_id;
  const certTtl = payload.cert_ttl;
  if (!dns || !ip || (spiffeId !== undefined && typeof spiffeId !== 'string') || (certTtl !== undefined && !Number.isSafeInteger(certTtl)) || payload.exp! - payload.iat! > TOKEN_MAX_SECONDS) {
    throw new CaError('ERR_TOKEN_INVALID', 'auth: the enrollment token is not valid for this CA');
  }
  return {
    name: payload.sub!,
    spiffeId: spiffeId as string | undefined,
    dnsNames: dns,
    ipAddresses: ip,
    certTtlSeconds: certTtl as number | undefined,
    jti: payload.jti!,
    expiresAt: new Date(payload.exp! * 1000),
  };
}

/**
 * The grant a token may carry, checked now as enrollment would check it (so no token is minted for names the CA
 * would refuse): a plain name, a SPIFFE ID in the trust domain and not reserved, valid DNS names and addresses, at
 * least one identity, and a certificate lifetime within the CA's maximum (the default when none is asked).
 */
export function enrollmentGrant(ca: { readonly trustDomain: TrustDomain; readonly allowWildcards: boolean; readonly defaultTtlSeconds: number; readonly maxTtlSeconds: number }, ask: { name: string; spiffeId?: string | undefined; dnsNames?: readonly string[]; ipAddresses?: readonly string[]; certTtlSeconds?: number | undefined }): EnrollmentGrant {
  plainText(ask.name, 'the certificate name', 64);
  const id = ask.spiffeId === undefined ? undefined : parseSpiffeIdIn(ask.spiffeId, ca.trustDomain);
  if (id && isReservedSpiffeId(id)) throw new CaError('ERR_IDENTITY_RESERVED', `auth: ${id.uri} is reserved for meshca itself and cannot be granted`);
  const dnsNames = (ask.dnsNames ?? []).map((d) => parseDnsName(d, { allowWildcards: ca.allowWildcards }));
  const ipAddresses = (ask.ipAddresses ?? []).map((ip) => parseIpAddress(ip).text);
  if (!id && dnsNames.length === 0 && ipAddresses.length === 0) throw new CaError('ERR_NAME_REQUIRED', 'auth: a token must grant at least one identity (a SPIFFE ID, a DNS name or an IP address)');
  if (ask.certTtlSeconds !== undefined && ask.certTtlSeconds > ca.maxTtlSeconds) throw new CaError('ERR_TTL_TOO_LONG', "auth: the certificate lifetime exceeds this CA's maximum TTL");
  // The certificate lifetime is written into every token: it is the most an enrollment may ask for.
  return { name: ask.name, spiffeId: id?.uri, dnsNames, ipAddresses, certTtlSeconds: ask.certTtlSeconds ?? ca.defaultTtlSeconds };
}
