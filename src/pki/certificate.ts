// X.509 v3 certificates as DER: the lean writer used to sign every certificate, and the lean reader used to check them.

import { Tag, children, expectTag, explicit, oidToString, readElement, readTime, readWhole, seq, smallInteger, time, unsignedInteger, type DerElement } from '../crypto/der.js';
import { readPublicKeyInfo, signedEnvelope, verifySignature, type Signer } from '../crypto/keys.js';
import { serialToHex } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import { extensionsBlock } from './extensions.js';

/** Everything that goes into a TBSCertificate; names, key and extensions already DER-encoded. */
export interface CertificateTemplate {
  readonly serial: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: readonly Buffer[];
}

const VERSION_3 = explicit(0, smallInteger(2));

/** Encodes and signs a certificate. Dates must already be whole seconds. */
export function signCertificate(template: CertificateTemplate, signer: Signer): Buffer {
  const tbs = seq(
    VERSION_3,
    unsignedInteger(template.serial),
    signer.algorithm.identifier,
    template.issuer,
    seq(time(template.notBefore), time(template.notAfter)),
    template.subject,
    template.spki,
    extensionsBlock(3, template.extensions),
  );
  return signedEnvelope(tbs, signer);
}

/** One extension as read from a certificate or CRL. */
export interface ExtensionView {
  readonly critical: boolean;
  /** The extnValue's contents (the DER of the extension's own value). */
  readonly value: Buffer;
}

/** A certificate's fields as located in its DER (views, not copies). */
export interface CertificateView {
  readonly der: Buffer;
  readonly tbs: Buffer;
  readonly version: number;
  /** Canonical lowercase hex. */
  readonly serial: string;
  readonly serialNegative: boolean;
  readonly signatureAlgorithm: Buffer;
  readonly tbsSignatureAlgorithm: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: ReadonlyMap<string, ExtensionView>;
  readonly duplicateExtensions: readonly string[];
  readonly signature: Buffer;
}

/** Reads a DER `Extensions` SEQUENCE into a map, reporting duplicates rather than silently keeping one. */
export function readExtensions(seqEl: DerElement): { extensions: Map<string, ExtensionView>; duplicates: string[] } {
  const extensions = new Map<string, ExtensionView>();
  const duplicates: string[] = [];
  for (const ext of children(expectTag(seqEl, Tag.SEQUENCE, 'extensions').value)) {
    const parts = children(expectTag(ext, Tag.SEQUENCE, 'extension').value);
    const id = oidToString(expectTag(parts[0], Tag.OID, 'extnID').value);
    const critical = parts.length === 3 && expectTag(parts[1], Tag.BOOLEAN, 'critical').value[0] === 0xff;
    const value = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue').value;
    if (extensions.has(id)) duplicates.push(id);
    extensions.set(id, { critical, value });
  }
  return { extensions, duplicates };
}

/** Reads a DER certificate, refusing anything that is not a well-formed X.509 structure. */
export function readCertificate(der: Buffer): CertificateView {
  try {
    const [tbsEl, sigAlg, sigBits] = children(readWhole(der, Tag.SEQUENCE, 'Certificate').value);
    const tbs = expectTag(tbsEl, Tag.SEQUENCE, 'tbsCertificate');
    const f = children(tbs.value);
    let i = 0;
    let version = 1;
    if (f[0]?.tag === 0xa0) {
      version = children(f[0].value)[0]!.value[0]! + 1;
      i = 1;
    }
    const serialEl = expectTag(f[i], Tag.INTEGER, 'serialNumber');
    const tbsSig = expectTag(f[i + 1], Tag.SEQUENCE, 'signature');
    const issuer = expectTag(f[i + 2], Tag.SEQUENCE, 'issuer');
    const [nb, na] = children(expectTag(f[i + 3], Tag.SEQUENCE, 'validity').value);
    const subject = expectTag(f[i + 4], Tag.SEQUENCE, 'subject');
    const spki = expectTag(f[i + 5], Tag.SEQUENCE, 'subjectPublicKeyInfo');
    let extensions = new Map<string, ExtensionView>();
    let duplicates: string[] = [];
    const extEl = f.slice(i + 6).find((e) => e.tag === 0xa3);
    if (extEl) ({ extensions, duplicates } = readExtensions(children(extEl.value)[0]!));
    const signature = expectTag(sigBits, Tag.BIT_STRING, 'signatureValue').value.subarray(1);
    return {
      der,
      tbs: tbs.raw,
      version,
      serial: serialToHex(serialEl.value),
      serialNegative: (serialEl.value[0]! & 0x80) !== 0,
      signatureAlgorithm: expectTag(sigAlg, Tag.SEQUENCE, 'signatureAlgorithm').raw,
      tbsSignatureAlgorithm: tbsSig.raw,
      issuer: issuer.raw,
      subject: subject.raw,
      notBefore: readTime(nb!),
      notAfter: readTime(na!),
      spki: spki.raw,
      extensions,
      duplicateExtensions: duplicates,
      signature,
    };
  } catch (e) {
    throw new CaError('ERR_DER_INVALID', 'pki: not a well-formed X.509 certificate', { cause: e });
  }
}

/** True when `cert` was signed by `issuer`'s key and names it as issuer. */
export function signedBy(cert: CertificateView, issuer: CertificateView): boolean {
  const algorithm = oidToString(children(readElement(cert.signatureAlgorithm).value)[0]!.value);
  return cert.issuer.equals(issuer.subject) && verifySignature(algorithm, cert.tbs, cert.signature, readPublicKeyInfo(issuer.spki));
}
