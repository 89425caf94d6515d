// The identities meshca keeps for itself: `spiffe://TD/meshca/...`, held only by the CA service and never issued on request.

import type { SpiffeId, TrustDomain } from './spiffe.js';

/** Paths under this prefix belong to meshca's own components. */
export const RESERVED_PATH_PREFIX = '/meshca/';

/** The path of the CA service's own TLS certificate, which clients require before they send a credential. */
export const CA_SERVICE_PATH = '/meshca/ca';

/** The SPIFFE ID the CA service of `trustDomain` presents. */
export function caServiceSpiffeId(trustDomain: TrustDomain): string {
  return `spiffe://${trustDomain}${CA_SERVICE_PATH}`;
}

/**
 * True when a SPIFFE path's first segment is `meshca` or looks like it to a person or a case-blind tool
 * (`MESHCA`, `meshca.`): such IDs are refused too, so nothing issued can pass for a meshca component.
 */
export function isReservedPath(path: string): boolean {
  const first = path.split('/')[1] ?? '';
  return /^meshca\.*$/i.test(first);
}

/** True when `id` lies under `spiffe://TD/meshca/` (or a lookalike of it). */
export function isReservedSpiffeId(id: SpiffeId): boolean {
  return isReservedPath(id.path);
}

/** True when a SPIFFE ID pattern (`spiffe://TD/meshca/**`) can only ever match reserved IDs: a scope never usable. */
export function isReservedPattern(pattern: string): boolean {
  const m = /^spiffe:\/\/[^/]+(\/.*)$/.exec(pattern);
  return m !== null && isReservedPath(m[1]!) && !/^\/\*/.test(m[1]!);
}

/** True when the SPIFFE ID text names a CA service (`spiffe://ANY/meshca/ca`): what a client pins. */
export function isCaServiceSpiffeId(uri: string | null): boolean {
  if (uri === null || !uri.startsWith('spiffe://')) return false;
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash > 0 && rest.slice(slash) === CA_SERVICE_PATH;
}
