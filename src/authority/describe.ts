// How a certificate is described to callers and operators: the JSON the API and the CLI (`ca list`, `ca issue`) share.

import type { CertificateRecord } from './ports.js';

type Summarized = Pick<CertificateRecord, 'serial' | 'notBefore' | 'notAfter' | 'spiffeId' | 'dnsNames' | 'ipAddresses'>;

/** Serial, validity and identities: how every description of a certificate starts. */
export function certificateSummary(c: Summarized) {
  return {
    serial: c.serial,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    spiffeId: c.spiffeId,
    dnsNames: [...c.dnsNames],
    ipAddresses: [...c.ipAddresses],
  };
}

/** Revoked, expired at `now`, or valid. */
export function certificateStatus(record: Pick<CertificateRecord, 'revokedAt' | 'notAfter'>, now: Date): 'valid' | 'revoked' | 'expired' {
  if (record.revokedAt !== null) return 'revoked';
  return record.notAfter <= now ? 'expired' : 'valid';
}

/**
 * A certificate in the inventory, with its lineage: `renewedFrom` (the serial it renewed, or null) and `renewedTo`
 * (the serials renewed from it, oldest first).
 */
export function inventoryEntry(r: CertificateRecord, now: Date, renewedTo: readonly string[]) {
  return {
    ...certificateSummary(r),
    name: r.commonName,
    status: certificateStatus(r, now),
    revokedAt: r.revokedAt?.toISOString() ?? null,
    reason: r.reason,
    renewedFrom: r.renewedFrom,
    renewedTo: [...renewedTo],
    requestedBy: r.requestedBy ?? null,
  };
}
