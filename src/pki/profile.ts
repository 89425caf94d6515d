// The certificate profiles meshca issues: the self-signed root, the issuing intermediate, the OCSP signer and the service leaf.

import { nullValue } from '../crypto/der.js';
import { keyIdentifier, type PublicKeyInfo, type Signer } from '../crypto/keys.js';
import type { SpiffeId, TrustDomain } from '../identity/spiffe.js';
import type { CertificateTemplate } from './certificate.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoint,
  distinguishedName,
  extension,
  extKeyUsage,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
  uriNameConstraint,
} from './extensions.js';
import { OID } from './oids.js';

/** Where relying parties fetch revocation status; written into every certificate below the root. */
export interface PublicationUrls {
  /** The root's CRL (listed in the intermediate). */
  readonly rootCrl: string;
  /** The current intermediate's CRL (an alias that moves to the new intermediate at each rotation). */
  readonly intermediateCrl: string;
  /** Where each issuer's CRL lives, as `${issuerCrlBase}/<issuer key id hex>.crl` (listed in every leaf). */
  readonly issuerCrlBase: string;
  /** The OCSP responder for leaves. */
  readonly ocsp: string;
}

/** The URLs under a CA's public base URL (`http://127.0.0.1:8080` → `.../crl/intermediate.crl`, `.../ocsp`). */
export function publicationUrls(publicUrl: string): PublicationUrls {
  const base = publicUrl.replace(/\/+$/, '');
  return { rootCrl: `${base}/crl/root.crl`, intermediateCrl: `${base}/crl/intermediate.crl`, issuerCrlBase: `${base}/crl`, ocsp: `${base}/ocsp` };
}

/**
 * The CRL of the issuer with this key id. Leaves name their own issuer's CRL, not the moving `intermediate.crl`
 * alias: after a rotation, a leaf of the old intermediate must still find a CRL its issuer signed.
 */
export function issuerCrlUrl(urls: PublicationUrls, issuerKeyId: Buffer): string {
  return `${urls.issuerCrlBase}/${issuerKeyId.toString('hex')}.crl`;
}

/** The CA's names, derived from its configured name. */
export function caSubjects(caName: string): { root: Buffer; intermediate: Buffer } {
  return {
    root: distinguishedName({ organization: caName, commonName: `${caName} Root CA` }),
    intermediate: distinguishedName({ organization: caName, commonName: `${caName} Intermediate CA` }),
  };
}

/** An issuer as the profiles need it. */
export interface IssuerProfile {
  readonly subject: Buffer;
  readonly keyId: Buffer;
  readonly notAfter: Date;
  readonly signer: Signer;
}

/** The self-signed root: CA, pathLen 1, keyCertSign + cRLSign. */
export function rootTemplate(p: { subject: Buffer; spki: Buffer; serial: Buffer; notBefore: Date; notAfter: Date }): CertificateTemplate {
  const keyId = keyIdentifier(p.spki);
  return {
    serial: p.serial,
    issuer: p.subject,
    subject: p.subject,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    spki: p.spki,
    extensions: [basicConstraints(true, 1), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(keyId)],
  };
}

/** The issuing intermediate: CA, pathLen 0, URI names constrained to the trust domain, revocable through the root's CRL. */
export function intermediateTemplate(p: {
  issuer: IssuerProfile;
  subject: Buffer;
  spki: Buffer;
  serial: Buffer;
  notBefore: Date;
  notAfter: Date;
  trustDomain: TrustDomain;
  urls: PublicationUrls;
}): CertificateTemplate {
  return {
    serial: p.serial,
    issuer: p.issuer.subject,
    subject: p.subject,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    spki: p.spki,
    extensions: [
      basicConstraints(true, 0),
      keyUsage(['keyCertSign', 'cRLSign']),
      uriNameConstraint(p.trustDomain),
      subjectKeyIdentifier(keyIdentifier(p.spki)),
      authorityKeyIdentifier(p.issuer.keyId),
      crlDistributionPoint(p.urls.rootCrl),
    ],
  };
}

/**
 * The delegated OCSP signer (RFC 6960 §4.2.2.2): issued by the intermediate, EKU OCSPSigning only, and
 * id-pkix-ocsp-nocheck so relying parties do not ask about the responder's own status.
 */
export function ocspSignerTemplate(p: { issuer: IssuerProfile; commonName: string; spki: Buffer; serial: Buffer; notBefore: Date; notAfter: Date }): CertificateTemplate {
  return {
    serial: p.serial,
    issuer: p.issuer.subject,
    subject: distinguishedName({ commonName: p.commonName }),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    spki: p.spki,
    extensions: [
      basicConstraints(false),
      keyUsage(['digitalSignature']),
      extKeyUsage([OID.ocspSigning]),
      extension(OID.ocspNoCheck, false, nullValue()),
      subjectKeyIdentifier(keyIdentifier(p.spki)),
      authorityKeyIdentifier(p.issuer.keyId),
    ],
  };
}

/** What a leaf is issued for, after policy has accepted it. */
export interface LeafSubject {
  readonly commonName: string;
  readonly spiffeId: SpiffeId | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly { text: string; bytes: Buffer }[];
  readonly publicKey: PublicKeyInfo;
}

/**
 * The service leaf profile, with everything that is the same for every leaf of an issuer encoded once:
 * only the serial, validity, subject, key, key identifier and SAN are written per certificate.
 */
export class LeafProfile {
  private readonly fixedExtensions: readonly Buffer[];
  private readonly ecUsage = keyUsage(['digitalSignature']);
  private readonly rsaUsage = keyUsage(['digitalSignature', 'keyEncipherment']);

  constructor(
    readonly issuer: IssuerProfile,
    readonly urls: PublicationUrls,
  ) {
    this.fixedExtensions = [
      basicConstraints(false),
      extKeyUsage([OID.serverAuth, OID.clientAuth]),
      authorityKeyIdentifier(issuer.keyId),
      crlDistributionPoint(issuerCrlUrl(urls, issuer.keyId)),
      authorityInfoAccess(urls.ocsp),
    ];
  }

  /** The certificate template for `leaf`, valid from `notBefore` to `notAfter` (whole seconds). */
  template(leaf: LeafSubject, serial: Buffer, notBefore: Date, notAfter: Date): CertificateTemplate {
    return {
      serial,
      issuer: this.issuer.subject,
      subject: distinguishedName({ commonName: leaf.commonName }),
      notBefore,
      notAfter,
      spki: leaf.publicKey.spki,
      extensions: [
        this.fixedExtensions[0]!,
        leaf.publicKey.algorithm === 'rsa' ? this.rsaUsage : this.ecUsage,
        ...this.fixedExtensions.slice(1),
        subjectKeyIdentifier(keyIdentifier(leaf.publicKey)),
        subjectAltName({
          uris: leaf.spiffeId ? [leaf.spiffeId.uri] : [],
          dnsNames: leaf.dnsNames,
          ipAddresses: leaf.ipAddresses.map((ip) => ip.bytes),
        }),
      ],
    };
  }
}
