// Certificate revocation lists (RFC 5280 §5): written straight to DER a page of entries at a time, and read back to verify.

import { Tag, children, expectTag, oidToString, readElement, readTime, readWhole, seq, smallInteger, time, tlv, unsignedInteger } from '../crypto/der.js';
import { readPublicKeyInfo, signedEnvelope, verifySignature, type Signer } from '../crypto/keys.js';
import { serialToHex } from '../crypto/serial.js';
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

/** The `crlEntryExtensions` of each reason code, encoded once. */
const REASON_EXTENSIONS = new Map<number, Buffer>(Object.values(REVOCATION_REASONS).filter((c) => c !== 0).map((c) => [c, seq(crlReason(c))]));

/** Revocation times already encoded, shared by the pages of a CRL (revocations cluster in time). */
const encodedTimes = new Map<number, Buffer>();

/** Largest entry: SEQUENCE header (2) + INTEGER of up to 20 octets and a sign octet (23) + time (17) + reason (15). */
const MAX_ENTRY = 64;

/**
 * Encodes a run of entries into one buffer, byte-identical to concatenating `revokedEntry` (tested), but written
 * in place: a million entries would otherwise be some five million small buffers. Times are encoded once per second.
 */
export function revokedEntries(entries: readonly RevokedEntry[]): Buffer {
  const out = Buffer.allocUnsafe(entries.length * MAX_ENTRY);
  if (encodedTimes.size > 100_000) encodedTimes.clear();
  const times = encodedTimes;
  let at = 0;
  for (const entry of entries) {
    const hex = entry.serial;
    let skip = 0;
    while (skip < hex.length - 2 && hex.charCodeAt(skip) === 0x30 && hex.charCodeAt(skip + 1) === 0x30) skip += 2;
    const serialLength = (hex.length - skip) >> 1;
    if ((hex.length & 1) !== 0 || serialLength < 1 || serialLength > 20) return Buffer.concat(entries.map(revokedEntry));
    const pad = parseInt(hex.slice(skip, skip + 2), 16) >= 0x80 ? 1 : 0;
    const ms = entry.revokedAt.getTime();
    let when = times.get(ms);
    if (!when) times.set(ms, (when = time(entry.revokedAt)));
    const reason = REASON_EXTENSIONS.get(REVOCATION_REASONS[entry.reason]);
    const body = 2 + pad + serialLength + when.length + (reason?.length ?? 0);
    out[at++] = Tag.SEQUENCE;
    out[at++] = body;
    out[at++] = Tag.INTEGER;
    out[at++] = pad + serialLength;
    if (pad) out[at++] = 0;
    at += out.write(hex.slice(skip), at, 'hex');
    at += when.copy(out, at);
    if (reason) at += reason.copy(out, at);
  }
  return out.subarray(0, at);
}

/** Builds and signs a v2 CRL with AKI and CRL number around already-encoded `revokedCertificates` content (one run or many). */
export function signCrl(params: CrlParams, encodedEntries: Buffer | readonly Buffer[]): Buffer {
  const runs = Buffer.isBuffer(encodedEntries) ? [encodedEntries] : encodedEntries;
  const fields = [VERSION_2, params.signer.algorithm.identifier, params.issuer, time(params.thisUpdate), time(params.nextUpdate)];
  if (runs.some((r) => r.length > 0)) fields.push(tlv(Tag.SEQUENCE, ...runs));
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
  /** The keyIdentifier of its authorityKeyIdentifier extension: which issuer key signed it. */
  readonly authorityKeyId: Buffer | undefined;
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
    let authorityKeyId: Buffer | undefined;
    if (f[i]?.tag === 0xa0) {
      const extensions = readExtensions(children(f[i]!.value)[0]!).extensions;
      const ext = extensions.get('2.5.29.20');
      if (ext) number = BigInt(`0x${readElement(ext.value).value.toString('hex') || '0'}`);
      const aki = extensions.get('2.5.29.35');
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
      const keyId = aki ? children(readElement(aki.value).value).find((e) => e.tag === 0x80) : undefined;
      authorityKeyId = keyId?.value;
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
      authorityKeyId,
    };
  } catch (e) {
    throw new CaError('ERR_DER_INVALID', 'revocation: not a well-formed CRL', { cause: e });
  }
}

/** The serials a DER CRL lists, canonical hex (read once when a relying party loads it, not per connection). */
export function crlSerials(der: Buffer): string[] {
  try {
    const f = children(expectTag(children(readWhole(der, Tag.SEQUENCE, 'CertificateList').value)[0], Tag.SEQUENCE, 'tbsCertList').value);
    let i = (f[0]?.tag === Tag.INTEGER ? 1 : 0) + 3;
    if (f[i] && (f[i]!.tag === Tag.UTC_TIME || f[i]!.tag === Tag.GENERALIZED_TIME)) i++;
    if (f[i]?.tag !== Tag.SEQUENCE) return [];
    return children(f[i]!.value).map((entry) => serialToHex(expectTag(children(entry.value)[0], Tag.INTEGER, 'userCertificate').value));
  } catch (e) {
    throw new CaError('ERR_DER_INVALID', 'revocation: not a well-formed CRL', { cause: e });
  }
}

/** Verifies that `crl` was signed by the certificate `issuer` and names it as issuer. */
export function crlSignedBy(crl: CrlView, issuer: CertificateView): boolean {
  return crl.issuer.equals(issuer.subject) && verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, readPublicKeyInfo(issuer.spki));
}
