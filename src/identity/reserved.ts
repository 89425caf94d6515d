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

/** True when `id` lies under `spiffe://TD/meshca/`. */
export function isReservedSpiffeId(id: SpiffeId): boolean {
  return id.path === RESERVED_PATH_PREFIX.slice(0, -1) || id.path.startsWith(RESERVED_PATH_PREFIX);
}

/** True when the SPIFFE ID text names a CA service (`spiffe://ANY/meshca/ca`): what a client pins. */
export function isCaServiceSpiffeId(uri: string | null): boolean {
  if (uri === null || !uri.startsWith('spiffe://')) return false;
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash > 0 && rest.slice(slash) === CA_SERVICE_PATH;
}
