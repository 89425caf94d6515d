// The last gate before a leaf leaves the CA: re-reads the signed DER and checks it against the leaf profile.

import { Tag, children, readWhole } from '../crypto/der.js';
import { CaError } from '../errors.js';
import { parseDnsName } from '../identity/names.js';
import { parseSpiffeIdIn, type TrustDomain } from '../identity/spiffe.js';
import { readCertificate, type CertificateView } from './certificate.js';
import { readSubjectAltName } from './extensions.js';
import { OID } from './oids.js';

/** What the issuer expects every leaf it signs to satisfy. */
export interface LeafExpectations {
  readonly issuer: Buffer;
  readonly issuerKeyId: Buffer;
  readonly issuerNotAfter: Date;
  readonly trustDomain: TrustDomain;
  readonly allowWildcards: boolean;
}

/**
 * Lists every way `der` breaks the leaf profile; an empty list means it conforms. Reads the DER afresh,
 * so it checks what was actually signed, not what the builder meant to write.
 */
export function leafProblems(der: Buffer, expect: LeafExpectations): string[] {
  let cert: CertificateView;
  try {
    cert = readCertificate(der);
  } catch {
    return ['not a well-formed X.509 certificate'];
  }
  const problems: string[] = [];
  const check = (ok: boolean, problem: string): void => {
    if (!ok) problems.push(problem);
  };
  const ext = cert.extensions;
  check(cert.version === 3, 'not a v3 certificate');
  check(!cert.serialNegative && cert.serial !== '00', 'serial is not positive');
  check(cert.serial.length <= 40, 'serial longer than 20 octets');
  check(cert.tbsSignatureAlgorithm.equals(cert.signatureAlgorithm), 'inner and outer signature algorithms differ');
  check(cert.issuer.equals(expect.issuer), 'issuer name is not the intermediate');
  check(cert.notBefore < cert.notAfter, 'notBefore is not before notAfter');
  check(cert.notAfter <= expect.issuerNotAfter, 'outlives its issuer');
  check(cert.duplicateExtensions.length === 0, `duplicate extensions ${cert.duplicateExtensions.join(', ')}`);

  const bc = ext.get(OID.basicConstraints);
  check(bc !== undefined && bc.critical && bc.value.equals(Buffer.from([Tag.SEQUENCE, 0])), 'basicConstraints must be critical CA:FALSE');

  const ku = ext.get(OID.keyUsage);
  if (!ku || !ku.critical) problems.push('keyUsage must be present and critical');
  else {
    const bits = ku.value[3] ?? 0;
    check((bits & 0x80) !== 0, 'keyUsage lacks digitalSignature');
    check((bits & 0x06) === 0, 'keyUsage grants certificate or CRL signing');
  }

  const eku = ext.get(OID.extKeyUsage);
  check(eku !== undefined && eku.value.includes(Buffer.from('2b06010505070301', 'hex')) && eku.value.includes(Buffer.from('2b06010505070302', 'hex')),
    'extKeyUsage must carry serverAuth and clientAuth');

  const aki = ext.get(OID.authorityKeyIdentifier);
  check(aki !== undefined && aki.value.includes(expect.issuerKeyId), 'authorityKeyIdentifier does not name the issuer key');
  check(ext.has(OID.subjectKeyIdentifier), 'subjectKeyIdentifier missing');
  check(ext.has(OID.crlDistributionPoints), 'cRLDistributionPoints missing');
  check(ext.has(OID.authorityInfoAccess), 'authorityInfoAccess (OCSP) missing');

  const san = ext.get(OID.subjectAltName);
  if (!san) problems.push('subjectAltName missing');
  else {
    try {
      const names = readSubjectAltName(san.value);
      check(names.uris.length + names.dnsNames.length + names.ipAddresses.length > 0, 'subjectAltName is empty');
      check(names.uris.length <= 1, 'more than one URI SAN (a SPIFFE leaf has exactly one ID)');
      check(names.other === 0, 'subjectAltName carries name types outside the profile');
      for (const uri of names.uris) collect(problems, () => parseSpiffeIdIn(uri, expect.trustDomain));
      for (const dns of names.dnsNames) collect(problems, () => check(parseDnsName(dns, { allowWildcards: expect.allowWildcards }) === dns, `DNS name ${dns} is not normalized`));
      const subjectEmpty = children(readWhole(cert.subject, Tag.SEQUENCE, 'subject').value).length === 0;
      check(!subjectEmpty || san.critical, 'subjectAltName must be critical when the subject is empty');
    } catch {
      problems.push('subjectAltName is not well-formed');
    }
  }
  return problems;
}

function collect(problems: string[], fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
}

/** Throws `ERR_LINT` listing every problem when `der` breaks the leaf profile. */
export function lintLeaf(der: Buffer, expect: LeafExpectations): void {
  const problems = leafProblems(der, expect);
  if (problems.length > 0) {
    throw new CaError('ERR_LINT', `pki: refusing to return a certificate that breaks the leaf profile: ${problems.join('; ')}`, { detail: { problems } });
  }
}
