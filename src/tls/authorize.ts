// Authorizers: the one decision of who the peer may be, as go-spiffe's tlsconfig makes it.

import { parseIdentityPattern } from '../identity/pattern.js';
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
  /**
   * SPIFFE IDs matching a pattern in meshca's one dialect (the same as API-key scopes): `*` matches within one
   * path segment, `**` one or more whole segments (`spiffe://acme.internal/ns/prod/**`).
   */
  matches(pattern: string): Authorizer {
    const p = parseIdentityPattern('spiffe', pattern);
    return named(`SPIFFE ID matching ${p.text}`, (peer) => peer.spiffeId !== null && p.matches({ kind: 'spiffe', value: peer.spiffeId }));
  },
  /** A certificate carrying a DNS name that matches (case-insensitive; `*` within one label, `**` across labels). */
  dns(pattern: string): Authorizer {
    const p = parseIdentityPattern('dns', pattern);
    return named(`DNS name ${p.text}`, (peer) => peer.dnsNames.some((d) => p.matches({ kind: 'dns', value: d })));
  },
  /** Any peer whose certificate chains to the trust bundle (and is not revoked). */
  any(): Authorizer {
    return named('any authenticated peer', () => true);
  },
};
