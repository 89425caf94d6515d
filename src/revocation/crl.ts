// Certificate revocation lists (RFC 5280 §5): written straight to DER a page of entries at a time, and read back to verify.

import { Tag, children, expectTag, oidToString, readElement, readTime, readWhole, seq, smallInteger, time, tlv, unsignedInteger } from '../crypto/der.js';
import { readPublicKeyInfo, signedEnvelope, verifySignature, type Signer } from '../crypto/keys.js';
import { CaError } from '../errors.js';
import { readExtensions, type CertificateView } from '../pki/certificate.js';
import { authorityKeyIdentifier, crlNumber as crlNumberExtension, crlReason, extensionsBlock } from '../pki/extensions.js';
import { REVOCATION_REASONS, type RevocationReason } from './reasons.js';

/** One revoked certificate as a CRL lists it. */
export interface RevokedEntry {
  /** Canonical lowercase hex. */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** The issuer of a CRL and the list's own metadata. */
export interface CrlParams {
  readonly issuer: Buffer;
  readonly issuerKeyId: Buffer;
  readonly signer: Signer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly number: bigint;
}

const VERSION_2 = smallInteger(1);

/** Encodes one `revokedCertificates` entry; `unspecified` is written as no reason (RFC 5280 §5.3.1 SHOULD). */
export function revokedEntry(entry: RevokedEntry): Buffer {
  const code = REVOCATION_REASONS[entry.reason];
  const parts = [unsignedInteger(Buffer.from(entry.serial, 'hex')), time(entry.revokedAt)];
  if (code !== 0) parts.push(seq(crlReason(code)));
  return seq(...parts);
}

/** Encodes a run of entries into one buffer (the CRL is assembled from such runs, never from an object per entry). */
export function revokedEntries(entries: readonly RevokedEntry[]): Buffer {
  return Buffer.concat(entries.map(revokedEntry));
}

/** Builds and signs a v2 CRL with AKI and CRL number around already-encoded `revokedCertificates` content. */
export function signCrl(params: CrlParams, encodedEntries: Buffer): Buffer {
  const fields = [VERSION_2, params.signer.algorithm.identifier, params.issuer, time(params.thisUpdate), time(params.nextUpdate)];
  if (encodedEntries.length > 0) fields.push(tlv(Tag.SEQUENCE, encodedEntries));
  fields.push(extensionsBlock(0, [authorityKeyIdentifier(params.issuerKeyId), crlNumberExtension(params.number)]));
  return signedEnvelope(seq(...fields), params.signer);
}


/** A CRL's signed parts and header, read back from DER (for `ca crl --ca-url` and tests). */
export interface CrlView {
  readonly tbs: Buffer;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
  readonly issuer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly number: bigint | undefined;
}

/** Reads a DER CRL's header and signature (not its entries). */
export function readCrl(der: Buffer): CrlView {
  try {
    const [tbsEl, algEl, sigEl] = children(readWhole(der, Tag.SEQUENCE, 'CertificateList').value);
    const f = children(expectTag(tbsEl, Tag.SEQUENCE, 'tbsCertList').value);
    let i = f[0]?.tag === Tag.INTEGER ? 1 : 0;
    const issuer = expectTag(f[i + 1], Tag.SEQUENCE, 'issuer').raw;
    const thisUpdate = readTime(f[i + 2]!);
    i += 3;
    let nextUpdate: Date | undefined;
    if (f[i] && (f[i]!.tag === Tag.UTC_TIME || f[i]!.tag === Tag.GENERALIZED_TIME)) nextUpdate = readTime(f[i++]!);
    if (f[i]?.tag === Tag.SEQUENCE) i++;
    let number: bigint | undefined;
    if (f[i]?.tag === 0xa0) {
      const ext = readExtensions(children(f[i]!.value)[0]!).extensions.get('2.5.29.20');
      if (ext) number = BigInt(`0x${readElement(ext.value).value.toString('hex') || '0'}`);
    }
    const bits = expectTag(sigEl, Tag.BIT_STRING, 'signature').value;
    return {
      tbs: tbsEl!.raw,
      signatureAlgorithm: oidToString(expectTag(children(expectTag(algEl, Tag.SEQUENCE, 'signatureAlgorithm').value)[0], Tag.OID, 'algorithm').value),
      signature: bits.subarray(1),
      issuer,
      thisUpdate,
      nextUpdate,
      number,
    };
  } catch (e) {
    throw new CaError('ERR_DER_INVALID', 'revocation: not a well-formed CRL', { cause: e });
  }
}

/** Verifies that `crl` was signed by the certificate `issuer` and names it as issuer. */
export function crlSignedBy(crl: CrlView, issuer: CertificateView): boolean {
  return crl.issuer.equals(issuer.subject) && verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, issuer.spki, readPublicKeyInfo(issuer.spki).algorithm);
}
