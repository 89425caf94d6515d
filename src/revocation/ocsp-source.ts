// Where OCSP answers come from: the status of a serial issued by one CA, read from the certificate store.

import type { CertificateStore } from '../authority/ports.js';
import type { CertStatus } from './ocsp.js';

/** Looks up a serial's status; `unknown` for anything this issuer never issued. */
export interface OcspSource {
  status(serial: string): Promise<CertStatus>;
}

/** A source over the CA's store for the leaves of the issuer whose key id is `issuerKeyIdHex`. */
export function storeSource(store: Pick<CertificateStore, 'findBySerial'>, issuerKeyIdHex: string): OcspSource {
  return {
    async status(serial) {
      const r = await store.findBySerial(serial);
      if (!r || r.kind !== 'leaf' || r.issuerKeyId !== issuerKeyIdHex) return { status: 'unknown' };
      if (r.revokedAt !== null) return { status: 'revoked', revokedAt: r.revokedAt, reason: r.reason ?? 'unspecified' };
      return { status: 'good' };
    },
  };
}
