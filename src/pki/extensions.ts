// DER encoders for the certificate and CRL extensions in meshca's profiles (RFC 5280 §4.2, §5.2, §5.3).

import { Tag, bitString, bool, children, explicit, implicit, octets, oid, readWhole, seq, smallInteger, tlv, unsignedInteger } from '../crypto/der.js';
import { ipToText } from '../identity/names.js';
import { OID } from './oids.js';

/** `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }` (DER omits a false critical). */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** basicConstraints, always critical: `cA` and, for a CA, `pathLenConstraint`. */
export function basicConstraints(ca: false): Buffer;
export function basicConstraints(ca: true, pathLen: number): Buffer;
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  return extension(OID.basicConstraints, true, ca ? seq(bool(true), smallInteger(pathLen!)) : seq());
}

/** Key usage bits in RFC 5280 order. */
export const KeyUsageBit = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;
export type KeyUsageName = keyof typeof KeyUsageBit;

/** keyUsage, critical, as a minimal named-bit BIT STRING (trailing zero bits dropped, per DER). */
export function keyUsage(usages: readonly KeyUsageName[]): Buffer {
  let bits = 0;
  for (const u of usages) bits |= 0x80 >> KeyUsageBit[u];
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(Buffer.from([bits]), unused));
}

/** extKeyUsage (non-critical). */
export function extKeyUsage(purposes: readonly string[]): Buffer {
  return extension(OID.extKeyUsage, false, seq(...purposes.map((p) => oid(p))));
}

/** subjectKeyIdentifier. */
export function subjectKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octets(keyId));
}

/** authorityKeyIdentifier with the issuer's key identifier only. */
export function authorityKeyIdentifier(issuerKeyId: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, seq(implicit(0, issuerKeyId)));
}

/** What a leaf may be named: the SAN's URI (SPIFFE ID), DNS names and IP addresses (4 or 16 bytes). */
export interface SubjectAltNames {
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly Buffer[];
}

/** subjectAltName as `[6] URI`, `[2] dNSName`, `[7] iPAddress` GeneralNames; critical when the subject is empty. */
export function subjectAltName(names: SubjectAltNames, critical = false): Buffer {
  return extension(
    OID.subjectAltName,
    critical,
    seq(
      ...names.uris.map((u) => implicit(6, Buffer.from(u, 'ascii'))),
      ...names.dnsNames.map((d) => implicit(2, Buffer.from(d, 'ascii'))),
      ...names.ipAddresses.map((ip) => implicit(7, ip)),
    ),
  );
}

/** cRLDistributionPoints with one full-name URI. */
export function crlDistributionPoint(url: string): Buffer {
  return extension(OID.crlDistributionPoints, false, seq(seq(explicit(0, explicit(0, implicit(6, Buffer.from(url, 'ascii')))))));
}

/** authorityInfoAccess with an OCSP responder URL. */
export function authorityInfoAccess(ocspUrl: string): Buffer {
  return extension(OID.authorityInfoAccess, false, seq(seq(oid(OID.accessOcsp), implicit(6, Buffer.from(ocspUrl, 'ascii')))));
}

/** nameConstraints, critical, permitting URI names only under `host` (RFC 5280 §4.2.1.10: host-based URI constraint). */
export function uriNameConstraint(host: string): Buffer {
  return extension(OID.nameConstraints, true, seq(explicit(0, seq(implicit(6, Buffer.from(host, 'ascii'))))));
}

/** cRLNumber (CRL extension). */
export function crlNumber(n: bigint): Buffer {
  const hex = n.toString(16);
  return extension(OID.crlNumber, false, unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')));
}

/** reasonCode (CRL entry extension), ENUMERATED. */
export function crlReason(code: number): Buffer {
  return extension(OID.crlReason, false, smallInteger(code, Tag.ENUMERATED));
}

/** `[tag] SEQUENCE OF Extension` wrapper used by certificates (`[3]`) and CRLs (`[0]`). */
export function extensionsBlock(tag: number, extensions: readonly Buffer[]): Buffer {
  return explicit(tag, seq(...extensions));
}

/** The Name `O=organization, CN=commonName` (UTF8String values); either part may be omitted. */
export function distinguishedName(parts: { organization?: string; commonName?: string }): Buffer {
  const rdn = (type: string, value: string): Buffer => tlv(Tag.SET, seq(oid(type), tlv(Tag.UTF8_STRING, Buffer.from(value, 'utf8'))));
  const rdns: Buffer[] = [];
  if (parts.organization !== undefined) rdns.push(rdn(OID.organizationName, parts.organization));
  if (parts.commonName !== undefined) rdns.push(rdn(OID.commonName, parts.commonName));
  return seq(...rdns);
}

/** Reads a subjectAltName extension value back into its URIs, DNS names and IP addresses (text). */
export function readSubjectAltName(value: Buffer): { uris: string[]; dnsNames: string[]; ipAddresses: string[]; other: number } {
  const out = { uris: [] as string[], dnsNames: [] as string[], ipAddresses: [] as string[], other: 0 };
  for (const gn of children(readWhole(value, Tag.SEQUENCE, 'GeneralNames').value)) {
    if (gn.tag === 0x86) out.uris.push(gn.value.toString('latin1'));
    else if (gn.tag === 0x82) out.dnsNames.push(gn.value.toString('latin1'));
    else if (gn.tag === 0x87 && (gn.value.length === 4 || gn.value.length === 16)) out.ipAddresses.push(ipToText(gn.value));
    else out.other++;
  }
  return out;
}
