// PKCS#10 certificate requests: verified for proof of possession (nothing else is taken from them), and written for our own clients.

import type { KeyObject } from 'node:crypto';
import { Tag, children, expectTag, explicit, oidToString, readWhole, seq, smallInteger } from '../crypto/der.js';
import { isVerifiableAlgorithm, readPublicKeyInfo, signedEnvelope, signerFor, spkiOf, verifySignature, type PublicKeyInfo } from '../crypto/keys.js';
import { distinguishedName } from './extensions.js';
import { checkSubjectKey } from './key-policy.js';
import { isPem, readPemLabelled } from '../crypto/pem.js';
import { CaError, isCaError } from '../errors.js';

/** A CSR whose key passed the subject-key checks and whose signature verifies. Names and extensions in it are deliberately not exposed. */
export interface VerifiedCsr {
  readonly publicKey: PublicKeyInfo;
}

/** Reads a CSR given as PEM or DER. */
export function csrDer(data: Buffer): Buffer {
  if (!isPem(data)) return data;
  return readPemLabelled(data.toString('latin1'), ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'], 'CSR')[0]!;
}

/**
 * Parses a DER PKCS#10 request and verifies its self-signature over the exact CertificationRequestInfo
 * bytes (a lean path: slicing and node:crypto `verify` run ~4x faster than a generic ASN.1 object model).
 */
export function verifyCsr(der: Buffer): VerifiedCsr {
  let cri: Buffer, sigOid: string, signature: Buffer, spki: Buffer;
  try {
    const [criEl, algEl, sigEl] = children(readWhole(der, Tag.SEQUENCE, 'CertificationRequest').value);
    const criParts = children(expectTag(criEl, Tag.SEQUENCE, 'certificationRequestInfo').value);
    expectTag(criParts[0], Tag.INTEGER, 'version');
    expectTag(criParts[1], Tag.SEQUENCE, 'subject');
    spki = expectTag(criParts[2], Tag.SEQUENCE, 'subjectPKInfo').raw;
    cri = criEl!.raw;
    sigOid = oidToString(expectTag(children(expectTag(algEl, Tag.SEQUENCE, 'signatureAlgorithm').value)[0], Tag.OID, 'algorithm').value);
    const bits = expectTag(sigEl, Tag.BIT_STRING, 'signature').value;
    if (bits[0] !== 0) throw new CaError('ERR_DER_INVALID', 'der: signature has unused bits');
    signature = bits.subarray(1);
  } catch (e) {
    throw new CaError('ERR_CSR_MALFORMED', 'pki: the CSR is not a well-formed PKCS#10 request', { cause: e });
  }
  if (!isVerifiableAlgorithm(sigOid)) throw new CaError('ERR_SIGNATURE_ALGORITHM_UNSUPPORTED', `pki: CSR signature algorithm ${sigOid} is not supported`);
  let publicKey: PublicKeyInfo;
  try {
    publicKey = readPublicKeyInfo(spki);
  } catch (e) {
    if (isCaError(e, 'ERR_KEY_WEAK') || isCaError(e, 'ERR_KEY_TYPE_UNSUPPORTED')) throw e;
    throw new CaError('ERR_CSR_MALFORMED', `pki: the CSR public key is not valid${e instanceof CaError ? ` (${e.message.replace(/^\w+: /, '')})` : ''}`, { cause: e });
  }
  // Before the signature: a degenerate key (RSA e = 1, an off-curve point) can make any signature "verify".
  checkSubjectKey(publicKey);
  if (!verifySignature(sigOid, cri, signature, publicKey)) throw new CaError('ERR_CSR_SIGNATURE', 'pki: CSR signature does not verify');
  return { publicKey };
}

/** Writes a PKCS#10 request for `privateKey` with subject `CN=commonName`, signed by that key (used by `ca issue --ca-url` and `ca renew --rekey`). */
export function createCsr(privateKey: KeyObject, commonName: string): Buffer {
  const info = seq(smallInteger(0), distinguishedName({ commonName }), spkiOf(privateKey), explicit(0));
  return signedEnvelope(info, signerFor(privateKey));
}
