// OCSP messages (RFC 6960, RFC 5019 profile): reading requests and writing signed responses, in lean DER.

import { createHash } from 'node:crypto';
import { Tag, bitString, children, explicit, expectTag, generalizedTime, implicit, octets, oid, oidToString, readWhole, seq, smallInteger, tlv, unsignedInteger, type DerElement } from '../crypto/der.js';
import type { Signer } from '../crypto/keys.js';
import { serialToHex } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import { REVOCATION_REASONS, type RevocationReason } from './reasons.js';

const OID_BASIC = '1.3.6.1.5.5.7.48.1.1';
export const OID_NONCE = '1.3.6.1.5.5.7.48.1.2';

/** OCSPResponseStatus values for answers that carry no response bytes. */
export const OcspError = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
export type OcspErrorStatus = keyof typeof OcspError;

/** Hash algorithms a CertID may use, by OID. */
const CERT_ID_HASHES: Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** One CertID as requested: kept as raw DER so the response echoes it byte for byte. */
export interface RequestedCert {
  readonly certId: Buffer;
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  /** Canonical lowercase hex. */
  readonly serial: string;
  /**
   * What identifies this CertID up to its exact bytes: hash algorithm, parameters (absent or NULL, the only
   * two encodings accepted) and serial. At most eight per serial, so requests cannot multiply cache entries.
   */
  readonly cacheKey: string;
}

/** A parsed OCSP request. `nonce` is the nonce extension's extnValue content, echoed verbatim. */
export interface OcspRequest {
  readonly certs: readonly RequestedCert[];
  readonly nonce: Buffer | undefined;
}

function malformed(why: string): CaError {
  return new CaError('ERR_DER_INVALID', `ocsp: malformed request: ${why}`);
}

function readCertId(el: DerElement | undefined): RequestedCert {
  const parts = children(expectTag(el, Tag.SEQUENCE, 'CertID').value);
  if (parts.length !== 4) throw malformed('CertID must have four fields');
  const [algEl, paramsEl, ...extra] = children(expectTag(parts[0], Tag.SEQUENCE, 'hashAlgorithm').value);
  const alg = oidToString(expectTag(algEl, Tag.OID, 'hash OID').value);
  const hash = CERT_ID_HASHES[alg];
  if (!hash) throw malformed(`unsupported CertID hash ${alg}`);
  // RFC 5754 §2: SHA-2 parameters are absent (or NULL, as OpenSSL writes for SHA-1); nothing else is a hash's.
  if (extra.length > 0 || (paramsEl !== undefined && !(paramsEl.tag === Tag.NULL && paramsEl.value.length === 0))) throw malformed('CertID hash parameters must be absent or NULL');
  const serial = expectTag(parts[3], Tag.INTEGER, 'serialNumber').value;
  if (serial.length === 0 || serial.length > 20 || (serial[0]! & 0x80) !== 0) throw malformed('serial number out of range');
  if (serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) === 0) throw malformed('serial number is not minimally encoded');
  const hex = serialToHex(serial);
  return {
    certId: el!.raw,
    hash,
    issuerNameHash: expectTag(parts[1], Tag.OCTET_STRING, 'issuerNameHash').value,
    issuerKeyHash: expectTag(parts[2], Tag.OCTET_STRING, 'issuerKeyHash').value,
    serial: hex,
    cacheKey: `${hash}:${paramsEl === undefined ? '-' : 'null'}:${hex}`,
  };
}

/** Parses a DER OCSPRequest; any deviation is a `ERR_DER_INVALID` the responder answers with malformedRequest. */
export function parseOcspRequest(der: Buffer): OcspRequest {
  try {
    const [tbsEl] = children(readWhole(der, Tag.SEQUENCE, 'OCSPRequest').value);
    const fields = children(expectTag(tbsEl, Tag.SEQUENCE, 'TBSRequest').value);
    let i = 0;
    if (fields[i]?.tag === 0xa0) i++; // version (v1 only exists)
    if (fields[i]?.tag === 0xa1) i++; // requestorName, ignored
    const list = children(expectTag(fields[i], Tag.SEQUENCE, 'requestList').value);
    if (list.length === 0 || list.length > 16) throw malformed('requestList must hold 1-16 requests');
    const certs = list.map((r) => readCertId(children(expectTag(r, Tag.SEQUENCE, 'Request').value)[0]));
    let nonce: Buffer | undefined;
    const extsEl = fields[i + 1];
    if (extsEl !== undefined) {
      if (extsEl.tag !== 0xa2) throw malformed('unexpected field after requestList');
      for (const ext of children(expectTag(children(extsEl.value)[0], Tag.SEQUENCE, 'requestExtensions').value)) {
        const parts = children(expectTag(ext, Tag.SEQUENCE, 'Extension').value);
        if (oidToString(expectTag(parts[0], Tag.OID, 'extnID').value) === OID_NONCE) {
          nonce = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'nonce').value;
          if (nonce.length === 0 || nonce.length > 128) throw malformed('nonce must be 1-128 bytes');
        }
      }
    }
    return { certs, nonce };
  } catch (e) {
    if (e instanceof CaError && e.message.startsWith('ocsp:')) throw e;
    throw malformed((e as Error).message.replace(/^der: /, ''));
  }
}

/** The issuer hashes a CertID is matched against, per hash algorithm (RFC 6960 §4.1.1). */
export function issuerHashes(issuerSubject: Buffer, issuerKeyBits: Buffer): Record<RequestedCert['hash'], { name: Buffer; key: Buffer }> {
  const h = (alg: string, data: Buffer) => createHash(alg).update(data).digest();
  const out = {} as Record<RequestedCert['hash'], { name: Buffer; key: Buffer }>;
  for (const alg of ['sha1', 'sha256', 'sha384', 'sha512'] as const) out[alg] = { name: h(alg, issuerSubject), key: h(alg, issuerKeyBits) };
  return out;
}

/** A certificate's status at the time of the answer. */
export type CertStatus = { readonly status: 'good' } | { readonly status: 'unknown' } | { readonly status: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason };

/** One SingleResponse's content. */
export interface SingleAnswer {
  readonly certId: Buffer;
  readonly status: CertStatus;
}

/** The delegated responder: its signer, its certificate (sent in `certs`) and its key hash (the ResponderID). */
export interface OcspSigner {
  readonly signer: Signer;
  readonly certificate: Buffer;
  readonly keyHash: Buffer;
}

const GOOD = implicit(0, Buffer.alloc(0));
const UNKNOWN = implicit(2, Buffer.alloc(0));

function certStatus(s: CertStatus): Buffer {
  if (s.status === 'good') return GOOD;
  if (s.status === 'unknown') return UNKNOWN;
  const reason = REVOCATION_REASONS[s.reason];
  // RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }, tagged [1] IMPLICIT
  return tlv(0xa1, generalizedTime(s.revokedAt), ...(reason === 0 ? [] : [explicit(0, smallInteger(reason, Tag.ENUMERATED))]));
}

/** Signs a `successful` OCSPResponse holding a BasicOCSPResponse for `answers`. */
export function signOcspResponse(p: { responder: OcspSigner; producedAt: Date; thisUpdate: Date; nextUpdate: Date; answers: readonly SingleAnswer[]; nonce: Buffer | undefined }): Buffer {
  const single = p.answers.map((a) => seq(a.certId, certStatus(a.status), generalizedTime(p.thisUpdate), explicit(0, generalizedTime(p.nextUpdate))));
  const extensions = p.nonce === undefined ? [] : [explicit(1, seq(seq(oid(OID_NONCE), octets(p.nonce))))];
  const tbs = seq(explicit(2, octets(p.responder.keyHash)), generalizedTime(p.producedAt), seq(...single), ...extensions);
  const basic = seq(tbs, p.responder.signer.algorithm.identifier, bitString(p.responder.signer.sign(tbs)), explicit(0, seq(p.responder.certificate)));
  return seq(tlv(Tag.ENUMERATED, Buffer.from([0])), explicit(0, seq(oid(OID_BASIC), octets(basic))));
}

/** An OCSPResponse with an error status and no response bytes. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  return seq(tlv(Tag.ENUMERATED, Buffer.from([OcspError[status]])));
}

/** Writes an OCSPRequest for one certificate (SHA-1 CertID, as OpenSSL sends), optionally with a nonce (`ca ocsp`). */
export function createOcspRequest(p: { issuerSubject: Buffer; issuerKeyBits: Buffer; serial: Buffer; nonce?: Buffer }): Buffer {
  const h = issuerHashes(p.issuerSubject, p.issuerKeyBits).sha1;
  const certId = seq(seq(oid('1.3.14.3.2.26'), tlv(Tag.NULL, Buffer.alloc(0))), octets(h.name), octets(h.key), unsignedInteger(p.serial));
  const extensions = p.nonce ? [explicit(2, seq(seq(oid(OID_NONCE), octets(octets(p.nonce)))))] : [];
  return seq(seq(seq(seq(certId)), ...extensions));
}

