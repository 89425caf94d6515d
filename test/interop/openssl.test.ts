// The CLI's certificates and CRLs checked by OpenSSL, not by our own parser.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addSeconds } from '../../src/crypto/clock.js';
import { generateKeyPair, privateKeyFromPem, readPublicKeyInfo, signerFor, spkiOf } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { readCertificate, signCertificate } from '../../src/pki/certificate.js';
import { LeafProfile, publicationUrls } from '../../src/pki/profile.js';
import { parseSpiffeId } from '../../src/identity/spiffe.js';
import { keyIdentifier } from '../../src/crypto/keys.js';
import { randomSerial } from '../../src/crypto/serial.js';
import { ca, caJson, openssl } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const TD = 'acme.internal';
const KEY_TYPES = ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048', 'rsa-3072'] as const;

function initCa(keyType: string = 'ec-p256'): { dir: string; out: string; bundle: string } {
  const out = tempDir();
  const dir = join(out, 'ca');
  const r = ca(['init', '--dir', dir, '--name', 'Interop CA', '--trust-domain', TD, '--key-type', keyType]);
  expect(r.code, r.stderr).toBe(0);
  const bundle = join(out, 'bundle.pem');
  writeFileSync(bundle, readFileSync(join(dir, 'root.pem'), 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8'));
  return { dir, out, bundle };
}

function issue(dir: string, out: string, name: string, extra: string[] = []): { serial: string } {
  return caJson(['issue', name, '--dir', dir, '--cert-out', join(out, `${name}.pem`), '--key-out', join(out, `${name}.key`), ...extra]);
}

function verify(c: { dir: string }, leaf: string, extra: string[] = []) {
  return openssl(['verify', '-CAfile', join(c.dir, 'root.pem'), '-untrusted', join(c.dir, 'intermediate.pem'), ...extra, leaf]);
}

describe('openssl verify accepts every key type', () => {
  it.each(KEY_TYPES)('ok/a %s CA issuing a leaf of the same type', (keyType) => {
    const c = initCa(keyType);
    issue(c.dir, c.out, 'svc', ['--spiffe-id', `spiffe://${TD}/svc`, '--dns', 'svc.acme.internal', '--key-type', keyType]);
    const r = verify(c, join(c.out, 'svc.pem'));
    expect(r.stdout.trim()).toBe(`${join(c.out, 'svc.pem')}: OK`);
    // the key file matches the certificate
    const key = privateKeyFromPem(readFileSync(join(c.out, 'svc.key'), 'utf8'), undefined, 'leaf key');
    const pem = readFileSync(join(c.out, 'svc.pem'), 'utf8');
    const leafDer = Buffer.from(pem.split('-----END CERTIFICATE-----')[0]!.replace(/-----BEGIN CERTIFICATE-----|\s/g, ''), 'base64');
    expect(readCertificate(leafDer).spki.equals(spkiOf(key))).toBe(true);
  });

  it.each(KEY_TYPES.filter((k) => k !== 'ec-p256'))('ok/a P-256 CA issuing a %s leaf', (keyType) => {
    const c = initCa('ec-p256');
    issue(c.dir, c.out, 'svc', ['--dns', 'svc.acme.internal', '--key-type', keyType]);
    expect(verify(c, join(c.out, 'svc.pem')).code).toBe(0);
  });
});

describe('openssl x509 -text shows the profile', () => {
  it('ok/leaf, intermediate and root', () => {
    const c = initCa();
    issue(c.dir, c.out, 'api', ['--spiffe-id', `spiffe://${TD}/ns/prod/api`, '--dns', 'api.acme.internal', '--ip', '10.0.0.7', '--ip', '2001:db8::7']);
    const leaf = openssl(['x509', '-in', join(c.out, 'api.pem'), '-noout', '-text']).stdout;
    expect(leaf).toContain('Subject: CN = api');
    expect(leaf).toContain('Issuer: O = Interop CA, CN = Interop CA Intermediate CA');
    expect(leaf).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(leaf).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(leaf).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(leaf).toMatch(/X509v3 Subject Alternative Name:\s*\n\s+URI:spiffe:\/\/acme.internal\/ns\/prod\/api, DNS:api.acme.internal, IP Address:10.0.0.7, IP Address:2001:DB8:0:0:0:0:0:7/);
    expect(leaf).toMatch(/X509v3 CRL Distribution Points:\s*\n\s+Full Name:\s*\n\s+URI:http:\/\/127.0.0.1:8080\/crl\/[0-9a-f]{40}\.crl/);
    expect(leaf).toContain('OCSP - URI:http://127.0.0.1:8080/ocsp');
    expect(leaf).toContain('X509v3 Subject Key Identifier');
    expect(leaf).toContain('X509v3 Authority Key Identifier');
    expect(leaf).toContain('Public Key Algorithm: id-ecPublicKey');
    expect(leaf).toContain('NIST CURVE: P-256');
    const serial = /Serial Number:\s*\n\s+([0-9a-f:]+)/.exec(leaf)![1]!.replace(/:/g, '');
    expect(serial).toHaveLength(32);
    const [nb, na] = [/Not Before: (.*)/.exec(leaf)![1]!, /Not After : (.*)/.exec(leaf)![1]!].map((d) => Date.parse(d));
    expect(na! - nb!).toBe(86400_000 + 60_000);

    const inter = openssl(['x509', '-in', join(c.dir, 'intermediate.pem'), '-noout', '-text']).stdout;
    expect(inter).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(inter).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(inter).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+URI:acme.internal/);
    expect(inter).toContain('URI:http://127.0.0.1:8080/crl/root.crl');
    const root = openssl(['x509', '-in', join(c.dir, 'root.pem'), '-noout', '-text']).stdout;
    expect(root).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    const [rnb, rna] = [/Not Before: (.*)/.exec(root)![1]!, /Not After : (.*)/.exec(root)![1]!].map((d) => Date.parse(d));
    expect(Math.round((rna! - rnb!) / 86400_000)).toBe(3650);
  });

  it('ok/OpenSSL enforces the intermediate name constraint on a SPIFFE ID outside the trust domain', () => {
    // The CA refuses such a request by policy; sign one directly with the intermediate key to prove the
    // constraint itself holds for relying parties even if policy were bypassed.
    const c = initCa();
    const interDer = Buffer.from(readFileSync(join(c.dir, 'intermediate.pem'), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const inter = readCertificate(interDer);
    const key = privateKeyFromPem(readFileSync(join(c.dir, 'private', 'intermediate.key'), 'utf8'), undefined, 'intermediate');
    const profile = new LeafProfile({ subject: inter.subject, keyId: keyIdentifier(inter.spki), notAfter: inter.notAfter, signer: signerFor(key) }, publicationUrls('http://127.0.0.1:8080'));
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const leafKey = generateKeyPair('ec-p256').privateKey;
    const forged = signCertificate(
      profile.template({ commonName: 'evil', spiffeId: parseSpiffeId('spiffe://evil.internal/x'), dnsNames: [], ipAddresses: [], publicKey: readPublicKeyInfo(spkiOf(leafKey)) }, randomSerial(), addSeconds(now, -60), addSeconds(now, 3600)),
      signerFor(key),
    );
    const path = join(c.out, 'evil.pem');
    writeFileSync(path, toPem('CERTIFICATE', forged));
    const r = verify(c, path);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('permitted subtree violation');
  });
});

describe('CRLs checked by OpenSSL', () => {
  it('ok/the CRL verifies against the CA and -crl_check_all refuses the revoked leaf only', () => {
    const c = initCa();
    const good = issue(c.dir, c.out, 'good', ['--dns', 'good.acme.internal']);
    const bad = issue(c.dir, c.out, 'bad', ['--dns', 'bad.acme.internal']);
    expect(ca(['revoke', bad.serial, '--dir', c.dir, '--reason', 'keyCompromise']).code).toBe(0);
    const signedFrom = Date.now();
    expect(ca(['crl', '--dir', c.dir, '--out', join(c.out, 'crl.der')]).code).toBe(0);
    const text = openssl(['crl', '-in', join(c.out, 'crl.der'), '-inform', 'DER', '-CAfile', c.bundle, '-noout', '-text']);
    expect(text.stderr).toContain('verify OK');
    expect(text.stdout).toContain(`Serial Number: ${bad.serial.toUpperCase()}`);
    expect(text.stdout).not.toContain(good.serial.toUpperCase());
    expect(text.stdout).toMatch(/X509v3 CRL Reason Code:\s*\n\s+Key Compromise/);
    // The number is the signing time in milliseconds (the first CRL of its issuer): OpenSSL reads it as such.
    const number = Number(/X509v3 CRL Number:\s*\n\s+(\d+)\n/.exec(text.stdout)?.[1]);
    expect(number).toBeGreaterThanOrEqual(signedFrom);
    expect(number).toBeLessThanOrEqual(Date.now());
    expect(text.stdout).toContain('X509v3 Authority Key Identifier');
    expect(text.stdout).toMatch(/Next Update: /);

    expect(ca(['crl', '--dir', c.dir, '--out', join(c.out, 'crl.pem'), '--pem']).code).toBe(0);
    const refused = verify(c, join(c.out, 'bad.pem'), ['-crl_check_all', '-CRLfile', join(c.out, 'crl.pem')]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('certificate revoked');
    const accepted = verify(c, join(c.out, 'good.pem'), ['-crl_check_all', '-CRLfile', join(c.out, 'crl.pem')]);
    expect(accepted.stdout.trim()).toBe(`${join(c.out, 'good.pem')}: OK`);
  });

  it('ok/an OpenSSL-made CSR is signed with --csr and the result verifies', () => {
    const c = initCa();
    const req = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(c.out, 'o.key'), '-subj', '/CN=ignored', '-out', join(c.out, 'o.csr')]);
    expect(req.code, req.stderr).toBe(0);
    const leaf = caJson<{ serial: string }>(['issue', 'ossl', '--dir', c.dir, '--csr', join(c.out, 'o.csr'), '--dns', 'ossl.acme.internal', '--cert-out', join(c.out, 'o.pem')]);
    expect(verify(c, join(c.out, 'o.pem')).code).toBe(0);
    const certPub = openssl(['x509', '-in', join(c.out, 'o.pem'), '-noout', '-pubkey']).stdout;
    const keyPub = openssl(['pkey', '-in', join(c.out, 'o.key'), '-pubout']).stdout;
    expect(certPub).toBe(keyPub);
    expect(leaf.serial).toMatch(/^[0-9a-f]{32}$/);
  });
});
