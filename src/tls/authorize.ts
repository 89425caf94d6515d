// Authorizers: the one decision of who the peer may be, as go-spiffe's tlsconfig makes it.

import { CaError } from '../errors.js';
import { parseDnsName } from '../identity/names.js';
import { parseSpiffeId, parseTrustDomain } from '../identity/spiffe.js';
import type { PeerIdentity } from './identity.js';

/** Decides whether a verified peer is allowed; `description` says what it allows, for refusal reports. */
export interface Authorizer {
  (peer: PeerIdentity): boolean;
  readonly description: string;
}

function named(description: string, fn: (peer: PeerIdentity) => boolean): Authorizer {
  return Object.assign((peer: PeerIdentity) => fn(peer), { description });
}

/** Turns a plain `(peer) => boolean` into an Authorizer. */
export function toAuthorizer(fn: ((peer: PeerIdentity) => boolean) | Authorizer): Authorizer {
  return 'description' in fn ? (fn as Authorizer) : named(fn.name || 'custom authorizer', fn);
}

function globToRegExp(pattern: string): RegExp {
  // `**` crosses path segments, `*` stays within one: `ns/prod/*` is not `ns/prod/a/b`.
  const source = pattern
    .split('**')
    .map((part) => part.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

/**
 * Authorizers for `createMtlsServer`, `createMtlsAgent` and friends.
 *
 * @example
 * authorize.oneOf('spiffe://acme.internal/ns/prod/frontend', 'spiffe://acme.internal/ns/prod/batch')
 */
export const authorize = {
  /** Exactly this SPIFFE ID. */
  id(spiffeId: string): Authorizer {
    const id = parseSpiffeId(spiffeId).uri;
    return named(`SPIFFE ID ${id}`, (p) => p.spiffeId === id);
  },
  /** Any of these SPIFFE IDs. */
  oneOf(...spiffeIds: string[]): Authorizer {
    if (spiffeIds.length === 0) throw new TypeError('authorize.oneOf needs at least one SPIFFE ID');
    const ids = new Set(spiffeIds.map((i) => parseSpiffeId(i).uri));
    return named(`one of ${[...ids].join(', ')}`, (p) => p.spiffeId !== null && ids.has(p.spiffeId));
  },
  /** Any SPIFFE ID in this trust domain. */
  memberOf(trustDomain: string): Authorizer {
    const td = parseTrustDomain(trustDomain);
    return named(`member of ${td}`, (p) => p.spiffeId !== null && parseSpiffeId(p.spiffeId).trustDomain === td);
  },
  /** SPIFFE IDs matching a glob: `*` matches within one path segment, `**` across segments. */
  matches(pattern: string): Authorizer {
    if (!pattern.startsWith('spiffe://')) throw new CaError('ERR_SPIFFE_ID_INVALID', `tls: pattern "${pattern}" must start with spiffe://`);
    const re = globToRegExp(pattern);
    return named(`SPIFFE ID matching ${pattern}`, (p) => p.spiffeId !== null && re.test(p.spiffeId));
  },
  /** A certificate carrying this DNS name (exact, case-insensitive). */
  dns(name: string): Authorizer {
    const dns = parseDnsName(name);
    return named(`DNS name ${dns}`, (p) => p.dnsNames.some((d) => d.toLowerCase() === dns));
  },
  /** Any peer whose certificate chains to the trust bundle (and is not revoked). */
  any(): Authorizer {
    return named('any authenticated peer', () => true);
  },
};
