// The JSON shapes the API answers with for certificates.

import type { IssuedLeaf } from '../authority/issue.js';
import { certificateSummary, inventoryEntry } from '../authority/describe.js';
import type { CertificateRecord } from '../authority/ports.js';
import { toPem } from '../crypto/pem.js';

/** A freshly issued leaf: identities, validity, the leaf PEM and the chain above it. */
export function leafResponse(leaf: IssuedLeaf, chainPem: string) {
  return { ...certificateSummary(leaf), certificate: toPem('CERTIFICATE', leaf.der), chain: chainPem };
}

/** A certificate in the inventory (see {@link inventoryEntry}), with its PEM when `withPem`. */
export function recordResponse(r: CertificateRecord, now: Date, renewedTo: readonly string[], withPem = false) {
  return { ...inventoryEntry(r, now, renewedTo), ...(withPem ? { certificate: toPem('CERTIFICATE', r.der) } : {}) };
}
