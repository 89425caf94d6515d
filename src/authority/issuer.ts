// A CA certificate paired with its private key: what signs leaves and CRLs.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyIdentifier, signerFor, spkiOf, type Signer } from '../crypto/keys.js';
import { toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { readCertificate, type CertificateView } from '../pki/certificate.js';
import type { IssuerProfile } from '../pki/profile.js';

/** A CA certificate without its key: what an offline root is to the service (a trust anchor, never a signer). */
export interface CaCertificate {
  readonly certificate: CertificateView;
  readonly pem: string;
  readonly subject: Buffer;
  readonly keyId: Buffer;
  readonly keyIdHex: string;
  readonly notAfter: Date;
}

/** Reads a CA certificate whose key is not at hand. */
export function readCaCertificate(certificateDer: Buffer): CaCertificate {
  const certificate = readCertificate(certificateDer);
  const keyId = keyIdentifier(certificate.spki);
  return { certificate, pem: toPem('CERTIFICATE', certificateDer), subject: certificate.subject, keyId, keyIdHex: keyId.toString('hex'), notAfter: certificate.notAfter };
}

/** An issuing certificate and the signer for its key, checked to belong together. */
export interface Issuer extends IssuerProfile, CaCertificate {
  readonly subject: Buffer;
  readonly keyId: Buffer;
  readonly notAfter: Date;
  /** The private key behind `signer`; it leaves the process never, and this thread only for the signing workers. */
  readonly key: KeyObject;
}

/** Pairs a CA certificate with its private key, refusing a key that is not the certificate's. */
export function loadIssuer(certificateDer: Buffer, privateKey: KeyObject, what: string): Issuer {
  const certificate = readCertificate(certificateDer);
  const spki = spkiOf(createPublicKey(privateKey));
  if (!spki.equals(certificate.spki)) {
    throw new CaError('ERR_KEY_INVALID', `authority: the ${what} key does not match the ${what} certificate`);
  }
  const signer: Signer = signerFor(privateKey);
  const keyId = keyIdentifier(spki);
  return {
    certificate,
    pem: toPem('CERTIFICATE', certificateDer),
    subject: certificate.subject,
    keyId,
    keyIdHex: keyId.toString('hex'),
    notAfter: certificate.notAfter,
    signer,
    key: privateKey,
  };
}
