import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdentifier, readPublicKeyInfo, signerFor, spkiOf, type KeyType } from '../../../src/crypto/keys.js';
import { x509 } from '../../../src/crypto/x509.js';
import { parseIpAddress } from '../../../src/identity/names.js';
import { parseSpiffeId } from '../../../src/identity/spiffe.js';
import { readCertificate, signCertificate } from '../../../src/pki/certificate.js';
import { caSubjects, LeafProfile, publicationUrls } from '../../../src/pki/profile.js';

const NOT_BEFORE = new Date('2026-06-15T11:59:00Z');
const NOT_AFTER = new Date('2026-06-16T12:00:00Z');
const SERIAL = Buffer.from('4a0b0c0d0e0f10111213141516171819', 'hex');

/** The same leaf, built by @peculiar/x509's generic generator: the reference our lean writer must match byte for byte. */
async function libraryLeaf(p: { issuerKey: webcrypto.CryptoKey; issuerSubject: Buffer; issuerKeyId: Buffer; leafSpki: Buffer; rsa: boolean }) {
  const urls = publicationUrls('http://127.0.0.1:8080');
  const publicKey = new x509.PublicKey(p.leafSpki);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: SERIAL.toString('hex'),
    issuer: new x509.Name(p.issuerSubject),
    subject: [{ '2.5.4.3': [{ utf8String: 'api' }] }],
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey,
    signingKey: p.issuerKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(undefined as unknown as boolean, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (p.rsa ? x509.KeyUsageFlags.keyEncipherment : 0), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.AuthorityKeyIdentifierExtension(p.issuerKeyId.toString('hex')),
      new x509.CRLDistributionPointsExtension([`${urls.issuerCrlBase}/${p.issuerKeyId.toString('hex')}.crl`]),
      new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp] }),
      new x509.SubjectKeyIdentifierExtension(keyIdentifier(p.leafSpki).toString('hex')),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: 'spiffe://acme.internal/api' },
        { type: 'dns', value: 'api.acme.internal' },
        { type: 'ip', value: '10.0.0.1' },
        { type: 'ip', value: '2001:db8::1' },
      ]),
    ],
  });
  return Buffer.from(cert.rawData);
}

describe('lean certificate writer', () => {
  it.each<[string, KeyType]>([
    ['ok/P-256 leaf', 'ec-p256'],
    ['ok/Ed25519 leaf', 'ed25519'],
    ['ok/RSA leaf', 'rsa-2048'],
  ])('%s: TBS is byte-identical to @peculiar/x509 for the same inputs', async (_n, leafType) => {
    const issuerPair = generateKeyPair('ec-p256');
    const issuerSpki = spkiOf(issuerPair.privateKey);
    const issuerKeyId = keyIdentifier(issuerSpki);
    const issuerSubject = caSubjects('Test CA').intermediate;
    const leafSpki = spkiOf(generateKeyPair(leafType).privateKey);
    const profile = new LeafProfile({ subject: issuerSubject, keyId: issuerKeyId, notAfter: new Date('2027-01-01T00:00:00Z'), signer: signerFor(issuerPair.privateKey) }, publicationUrls('http://127.0.0.1:8080'));
    const template = profile.template(
      {
        commonName: 'api',
        spiffeId: parseSpiffeId('spiffe://acme.internal/api'),
        dnsNames: ['api.acme.internal'],
        ipAddresses: [parseIpAddress('10.0.0.1'), parseIpAddress('2001:db8::1')],
        publicKey: readPublicKeyInfo(leafSpki),
      },
      SERIAL,
      NOT_BEFORE,
      NOT_AFTER,
    );
    const ours = signCertificate(template, signerFor(issuerPair.privateKey));
    const pkcs8 = issuerPair.privateKey.export({ type: 'pkcs8', format: 'der' });
    const issuerKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const theirs = await libraryLeaf({ issuerKey, issuerSubject, issuerKeyId, leafSpki, rsa: leafType.startsWith('rsa') });

    expect(readCertificate(ours).tbs.toString('hex')).toBe(readCertificate(theirs).tbs.toString('hex'));
    // and the library accepts our signature with the issuer's public key
    const parsed = new x509.X509Certificate(ours);
    const issuerPublic = await webcrypto.subtle.importKey('spki', issuerSpki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    expect(await parsed.verify({ publicKey: issuerPublic, signatureOnly: true })).toBe(true);
  });
});
