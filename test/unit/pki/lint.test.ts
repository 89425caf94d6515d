import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdentifier, readPublicKeyInfo, signerFor, spkiOf } from '../../../src/crypto/keys.js';
import { parseTrustDomain } from '../../../src/identity/spiffe.js';
import { signCertificate, type CertificateTemplate } from '../../../src/pki/certificate.js';
import { basicConstraints, distinguishedName, keyUsage, subjectAltName } from '../../../src/pki/extensions.js';
import { leafProblems, lintLeaf, type LeafExpectations } from '../../../src/pki/lint.js';
import { caSubjects, LeafProfile, publicationUrls } from '../../../src/pki/profile.js';
import { parseSpiffeId } from '../../../src/identity/spiffe.js';

const issuerKey = generateKeyPair('ec-p256').privateKey;
const issuer = { subject: caSubjects('Lint CA').intermediate, keyId: keyIdentifier(spkiOf(issuerKey)), notAfter: new Date('2027-01-01T00:00:00Z'), signer: signerFor(issuerKey) };
const profile = new LeafProfile(issuer, publicationUrls('http://127.0.0.1:8080'));
const expectations: LeafExpectations = { issuer: issuer.subject, issuerKeyId: issuer.keyId, issuerNotAfter: issuer.notAfter, trustDomain: parseTrustDomain('acme.internal'), allowWildcards: false };
const leafSpki = spkiOf(generateKeyPair('ec-p256').privateKey);

function goodTemplate(): CertificateTemplate {
  return profile.template(
    { commonName: 'api', spiffeId: parseSpiffeId('spiffe://acme.internal/api'), dnsNames: ['api.acme.internal'], ipAddresses: [], publicKey: readPublicKeyInfo(leafSpki) },
    Buffer.from('4a0b0c0d0e0f10111213141516171819', 'hex'),
    new Date('2026-06-15T11:59:00Z'),
    new Date('2026-06-16T12:00:00Z'),
  );
}

/** Replaces the extension whose DER starts like `like` (same OID) with `replacement`. */
function swapExtension(t: CertificateTemplate, oidHex: string, replacement: Buffer | null): CertificateTemplate {
  const extensions = t.extensions.flatMap((e) => (e.toString('hex').includes(oidHex) ? (replacement ? [replacement] : []) : [e]));
  return { ...t, extensions };
}

describe('leaf lint', () => {
  it('ok/a certificate built from the profile has no problems', () => {
    expect(leafProblems(signCertificate(goodTemplate(), issuer.signer), expectations)).toEqual([]);
  });

  it.each<[string, (t: CertificateTemplate) => CertificateTemplate, string]>([
    ['fail/CA:TRUE', (t) => swapExtension(t, '0603551d13', basicConstraints(true, 0)), 'basicConstraints must be critical CA:FALSE'],
    ['fail/keyCertSign', (t) => swapExtension(t, '0603551d0f', keyUsage(['digitalSignature', 'keyCertSign'])), 'keyUsage grants certificate or CRL signing'],
    ['fail/no digitalSignature', (t) => swapExtension(t, '0603551d0f', keyUsage(['keyEncipherment'])), 'keyUsage lacks digitalSignature'],
    ['fail/no EKU', (t) => swapExtension(t, '0603551d25', null), 'extKeyUsage must carry serverAuth and clientAuth'],
    ['fail/two SPIFFE IDs', (t) => swapExtension(t, '0603551d11', subjectAltName({ uris: ['spiffe://acme.internal/a', 'spiffe://acme.internal/b'], dnsNames: [], ipAddresses: [] })), 'more than one URI SAN'],
    ['fail/foreign trust domain', (t) => swapExtension(t, '0603551d11', subjectAltName({ uris: ['spiffe://evil.internal/a'], dnsNames: [], ipAddresses: [] })), 'outside this CA'],
    ['fail/empty SAN', (t) => swapExtension(t, '0603551d11', subjectAltName({ uris: [], dnsNames: [], ipAddresses: [] })), 'subjectAltName is empty'],
    ['fail/no SAN', (t) => swapExtension(t, '0603551d11', null), 'subjectAltName missing'],
    ['fail/bad DNS name', (t) => swapExtension(t, '0603551d11', subjectAltName({ uris: [], dnsNames: ['bad_name.internal'], ipAddresses: [] })), 'not a valid DNS name'],
    ['fail/duplicate extension', (t) => ({ ...t, extensions: [...t.extensions, t.extensions[0]!] }), 'duplicate extensions'],
    ['fail/outlives issuer', (t) => ({ ...t, notAfter: new Date('2028-01-01T00:00:00Z') }), 'outlives its issuer'],
    ['fail/inverted validity', (t) => ({ ...t, notBefore: t.notAfter, notAfter: t.notBefore }), 'notBefore is not before notAfter'],
    ['fail/wrong issuer name', (t) => ({ ...t, issuer: distinguishedName({ commonName: 'someone else' }) }), 'issuer name is not the intermediate'],
    ['fail/empty subject with non-critical SAN', (t) => ({ ...t, subject: distinguishedName({}) }), 'must be critical when the subject is empty'],
  ])('%s', (_n, mutate, problem) => {
    const der = signCertificate(mutate(goodTemplate()), issuer.signer);
    expect(leafProblems(der, expectations).join('; ')).toContain(problem);
    expect(() => lintLeaf(der, expectations)).toThrow(expect.objectContaining({ code: 'ERR_LINT', message: expect.stringContaining(problem) }));
  });

  it('fail/garbage', () => {
    expect(leafProblems(Buffer.from('3000', 'hex'), expectations)).toEqual(['not a well-formed X.509 certificate']);
  });
});
