// Issuance policy: which names and lifetimes a leaf may have, decided before anything is signed.

import { addSeconds } from '../crypto/clock.js';
import type { PublicKeyInfo } from '../crypto/keys.js';
import { formatDuration } from '../config/duration.js';
import { CaError } from '../errors.js';
import { parseDnsName, parseIpAddress } from '../identity/names.js';
import { isReservedSpiffeId } from '../identity/reserved.js';
import { parseSpiffeIdIn, type TrustDomain } from '../identity/spiffe.js';
import { plainText } from '../identity/text.js';
import type { LeafSubject } from '../pki/profile.js';

/** The CA's rules for leaves. */
export interface LeafPolicy {
  readonly trustDomain: TrustDomain;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly allowWildcards: boolean;
  /** How far notBefore is backdated to absorb clock skew between CA and relying parties. */
  readonly backdateSeconds: number;
}

/** The names and lifetime asked for, as raw text from a caller. */
export interface LeafRequest {
  readonly commonName: string;
  readonly spiffeId?: string | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly ipAddresses?: readonly string[] | undefined;
  readonly ttlSeconds?: number | undefined;
  /** The longest lifetime the caller's grant allows (an enrollment token's), below the CA's own maximum. */
  readonly ttlLimit?: { readonly seconds: number; readonly by: string } | undefined;
}

/** A request policy has accepted: parsed names and whole-second validity. */
export interface AcceptedLeaf {
  readonly subject: LeafSubject;
  /** When it is signed; notBefore is this minus the backdate. */
  readonly issuedAt: Date;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const MAX_COMMON_NAME = 64; // RFC 5280 ub-common-name

/**
 * Applies `policy` to `request` at `now` (whole seconds), throwing a typed error for the first thing refused.
 * Reserved identities (`spiffe://TD/meshca/...`) are refused unless `allowReserved` (the CA service's own certificate).
 */
export function applyLeafPolicy(policy: LeafPolicy, request: LeafRequest, publicKey: PublicKeyInfo, now: Date, issuerNotAfter: Date, options: { allowReserved?: boolean } = {}): AcceptedLeaf {
  const cn = plainText(request.commonName, 'the certificate name', MAX_COMMON_NAME);
  const spiffeId = request.spiffeId === undefined ? undefined : parseSpiffeIdIn(request.spiffeId, policy.trustDomain);
  if (spiffeId && isReservedSpiffeId(spiffeId) && !options.allowReserved) {
    throw new CaError('ERR_IDENTITY_RESERVED', `policy: ${spiffeId.uri} is reserved for meshca itself (spiffe://${policy.trustDomain}/meshca/...) and is never issued on request`);
  }
  const dnsNames = unique((request.dnsNames ?? []).map((d) => parseDnsName(d, { allowWildcards: policy.allowWildcards })));
  const ips = (request.ipAddresses ?? []).map(parseIpAddress);
  const ipAddresses = ips.filter((ip, i) => ips.findIndex((o) => o.bytes.equals(ip.bytes)) === i);
  if (!spiffeId && dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new CaError('ERR_NAME_REQUIRED', 'policy: a certificate needs at least one name: a SPIFFE ID, a DNS name or an IP address');
  }
  const ttl = request.ttlSeconds ?? policy.defaultTtlSeconds;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new CaError('ERR_TTL_INVALID', 'policy: the TTL must be a positive number of seconds');
  if (ttl > policy.maxTtlSeconds) {
    throw new CaError('ERR_TTL_TOO_LONG', `policy: TTL ${formatDuration(ttl)} exceeds this CA's maximum of ${formatDuration(policy.maxTtlSeconds)}`);
  }
  if (request.ttlLimit && ttl > request.ttlLimit.seconds) {
    throw new CaError('ERR_TTL_TOO_LONG', `policy: TTL ${formatDuration(ttl)} exceeds the ${formatDuration(request.ttlLimit.seconds)} that ${request.ttlLimit.by} allows`);
  }
  const notAfter = addSeconds(now, ttl);
  if (notAfter > issuerNotAfter) {
    throw new CaError('ERR_ISSUER_EXPIRES_FIRST', `policy: a ${formatDuration(ttl)} certificate would outlive the intermediate, which expires ${issuerNotAfter.toISOString()}`);
  }
  return {
    subject: { commonName: cn, spiffeId, dnsNames, ipAddresses, publicKey },
    issuedAt: now,
    notBefore: addSeconds(now, -policy.backdateSeconds),
    notAfter,
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
