// Certificate revocation lists (RFC 5280 §5) written straight to DER, one small buffer per entry.

import { Tag, seq, smallInteger, time, tlv, unsignedInteger } from '../crypto/der.js';
import { signedEnvelope, type Signer } from '../crypto/keys.js';
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

/** Builds and signs a v2 CRL with AKI and CRL number; `entries` may be any iterable (e.g. a database cursor). */
export function signCrl(params: CrlParams, entries: Iterable<RevokedEntry>): Buffer {
  const encoded: Buffer[] = [];
  for (const e of entries) encoded.push(revokedEntry(e));
  const fields = [VERSION_2, params.signer.algorithm.identifier, params.issuer, time(params.thisUpdate), time(params.nextUpdate)];
  if (encoded.length > 0) fields.push(tlv(Tag.SEQUENCE, Buffer.concat(encoded)));
  fields.push(extensionsBlock(0, [authorityKeyIdentifier(params.issuerKeyId), crlNumberExtension(params.number)]));
  return signedEnvelope(seq(...fields), params.signer);
}

