// Checking an OCSP response as a relying party would (`ca ocsp`): parsed with @peculiar/asn1-ocsp, verified with node:crypto.

import { randomBytes } from 'node:crypto';
import { readPublicKeyInfo, verifySignature } from '../crypto/keys.js';
import { serialToHex } from '../crypto/serial.js';
import { AsnConvert, asn1Ocsp } from '../crypto/x509.js';
import { CaError } from '../errors.js';
import { readCertificate, signedBy, type CertificateView } from '../pki/certificate.js';
import { OID } from '../pki/oids.js';
import { REVOCATION_REASONS, type RevocationReason } from './reasons.js';
import { OID_NONCE, createOcspRequest } from './ocsp.js';

/** A verified answer about one certificate. */
export interface VerifiedOcspStatus {
  readonly status: 'good' | 'revoked' | 'unknown';
  readonly revokedAt: Date | null;
  readonly reason: RevocationReason | null;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  readonly producedAt: Date;
  readonly signedBy: 'issuer' | 'delegated responder';
  /**
   * Whether the response echoed the request's nonce: false for a pre-signed answer (RFC 5019; meshca's responder
   * gives one when it cannot sign, e.g. during a database outage), which a replay within its validity could also be.
   */
  readonly nonceEchoed: boolean;
}

const fail = (why: string): never => {
  throw new CaError('ERR_CA_RESPONSE', `ocsp: ${why}`);
};

/** A request for `leaf` (issued by `issuer`) with a fresh 16-byte nonce. */
export function ocspRequestFor(leaf: CertificateView, issuer: CertificateView): { der: Buffer; nonce: Buffer } {
  const nonce = randomBytes(16);
  const der = createOcspRequest({ issuerSubject: issuer.subject, issuerKeyBits: readPublicKeyInfo(issuer.spki).keyBytes, serial: Buffer.from(leaf.serial, 'hex'), nonce });
  return { der, nonce };
}

/**
 * Verifies a response about `leaf`: successful, signed by the issuer or by a certificate the issuer gave the
 * OCSPSigning purpose, answering for this serial, and current. A nonce, when the response carries one, must be
 * ours; a response without one is accepted as a pre-signed answer (RFC 8954 leaves that to the client) and says so.
 */
export function verifyOcspResponse(der: Buffer, p: { leaf: Pick<CertificateView, 'serial'>; issuer: CertificateView; nonce: Buffer | undefined; now: Date }): VerifiedOcspStatus {
  let response: asn1Ocsp.OCSPResponse;
  try {
    response = AsnConvert.parse(der, asn1Ocsp.OCSPResponse);
  } catch {
    return fail('the responder sent something that is not an OCSP response');
  }
  if (response.responseStatus !== asn1Ocsp.OCSPResponseStatus.successful) {
    return fail(`the responder answered ${asn1Ocsp.OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`);
  }
  const basic = AsnConvert.parse(response.responseBytes!.response.buffer as ArrayBuffer, asn1Ocsp.BasicOCSPResponse);
  const tbs = Buffer.from(basic.tbsResponseDataRaw ?? AsnConvert.serialize(basic.tbsResponseData));
  const sigAlg = basic.signatureAlgorithm.algorithm;
  const signature = Buffer.from(basic.signature);
  let signedByWhom: VerifiedOcspStatus['signedBy'] = 'issuer';
  if (!verifySignature(sigAlg, tbs, signature, readPublicKeyInfo(p.issuer.spki))) {
    const delegated = (basic.certs ?? []).map((c) => readCertificate(Buffer.from(AsnConvert.serialize(c))));
    const found = delegated.find((d) => verifySignature(sigAlg, tbs, signature, readPublicKeyInfo(d.spki)));
    if (!found) return fail('the response signature does not verify');
    if (!signedBy(found, p.issuer)) fail('the responder certificate was not issued by the certificate\'s issuer');
    const eku = found.extensions.get(OID.extKeyUsage);
    if (!eku || !eku.value.includes(Buffer.from('2b06010505070309', 'hex'))) fail('the responder certificate lacks the OCSPSigning purpose');
    if (found.notAfter <= p.now || found.notBefore > p.now) fail('the responder certificate is not currently valid');
    signedByWhom = 'delegated responder';
  }
  const data = basic.tbsResponseData;
  const ext = (data.responseExtensions ?? []).find((e) => e.extnID === OID_NONCE);
  if (ext && p.nonce !== undefined) {
    const expected = Buffer.concat([Buffer.from([0x04, p.nonce.length]), p.nonce]);
    if (!Buffer.from(ext.extnValue.buffer).equals(expected)) fail('the response carries a nonce that is not ours (a replay?)');
  }
  const single = data.responses.find((r) => serialToHex(Buffer.from(r.certID.serialNumber)) === p.leaf.serial);
  if (!single) return fail(`the response says nothing about serial ${p.leaf.serial}`);
  if (single.thisUpdate.getTime() > p.now.getTime() + 5 * 60_000) fail('the response is dated in the future');
  if (single.nextUpdate && single.nextUpdate <= p.now) fail('the response is stale (past its nextUpdate)');
  const status = single.certStatus;
  const reasonCode = status.revoked?.revocationReason?.reason;
  const reason = status.revoked ? ((Object.entries(REVOCATION_REASONS).find(([, c]) => c === reasonCode)?.[0] as RevocationReason | undefined) ?? 'unspecified') : null;
  return {
    status: status.good !== undefined ? 'good' : status.revoked ? 'revoked' : 'unknown',
    revokedAt: status.revoked?.revocationTime ?? null,
    reason,
    thisUpdate: single.thisUpdate,
    nextUpdate: single.nextUpdate ?? null,
    producedAt: data.producedAt,
    signedBy: signedByWhom,
    nonceEchoed: ext !== undefined && p.nonce !== undefined,
  };
}
