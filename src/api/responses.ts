// The JSON shapes the API answers with for certificates.

import type { IssuedLeaf } from '../authority/issue.js';
import type { MassRevocation } from '../authority/mass-revocation.js';
import type { CertificateRecord } from '../authority/ports.js';
import { toPem } from '../crypto/pem.js';

/** Serial, validity and identities: the fields every certificate answer starts with. */
function summary(c: Pick<IssuedLeaf, 'serial' | 'notBefore' | 'notAfter' | 'spiffeId' | 'dnsNames' | 'ipAddresses'>) {
  return {
    serial: c.serial,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    spiffeId: c.spiffeId,
    dnsNames: [...c.dnsNames],
    ipAddresses: [...c.ipAddresses],
  };
}

/** A freshly issued leaf: identities, validity, the leaf PEM and the chain above it. */
export function leafResponse(leaf: IssuedLeaf, chainPem: string) {
  return { ...summary(leaf), certificate: toPem('CERTIFICATE', leaf.der), chain: chainPem };
}

/**
 * A certificate in the inventory, with its lineage: `renewedFrom` (the serial it renewed, or null) and `renewedTo`
 * (the serials renewed from it, oldest first).
 */
export function recordResponse(r: CertificateRecord, now: Date, renewedTo: readonly string[], withPem = false) {
  return {
    ...summary(r),
    name: r.commonName,
    status: r.revokedAt !== null ? 'revoked' : r.notAfter <= now ? 'expired' : 'valid',
    revokedAt: r.revokedAt?.toISOString() ?? null,
    reason: r.reason,
    renewedFrom: r.renewedFrom,
    renewedTo: [...renewedTo],
    requestedBy: r.requestedBy ?? null,
    ...(withPem ? { certificate: toPem('CERTIFICATE', r.der) } : {}),
  };
}

/** A certificate a lineage or identity revocation selected: enough to tell which workload it was. */
