// CRLReason (RFC 5280 §5.3.1): the names operators type and the codes written into CRLs and OCSP.

import { CaError } from '../errors.js';

/** Reasons meshca records. `certificateHold` and `removeFromCRL` are left out: a meshca revocation is final. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

/** Parses a reason name, case-insensitively (`keycompromise` → `keyCompromise`). */
export function parseRevocationReason(text: string): RevocationReason {
  const found = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).find((r) => r.toLowerCase() === text.toLowerCase());
  if (found) return found;
  const hint = /^(certificatehold|removefromcrl)$/i.test(text) ? ' (meshca revocations are permanent; holds are not supported)' : '';
  throw new CaError('ERR_REVOCATION_REASON_INVALID', `revocation: unknown reason "${text}"${hint}; use one of ${Object.keys(REVOCATION_REASONS).join(', ')}`);
}
