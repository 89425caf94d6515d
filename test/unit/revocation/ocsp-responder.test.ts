import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, readPublicKeyInfo, signerFor, spkiOf } from '../../../src/crypto/keys.js';
import { AsnConvert, asn1Ocsp } from '../../../src/crypto/x509.js';
import { readCertificate } from '../../../src/pki/certificate.js';
import { createOcspRequest } from '../../../src/revocation/ocsp.js';
import { OcspResponder } from '../../../src/revocation/ocsp-responder.js';
import { storeSource } from '../../../src/revocation/ocsp-source.js';
import { verifyOcspResponse } from '../../../src/revocation/ocsp-verify.js';
import { createTestCa } from '../../helpers/test-ca.js';

function setup() {
  const t = createTestCa();
  const inter = t.authority.intermediate;
  const responder = new OcspResponder({
    issuerSubject: inter.subject,
    issuerKeyBits: readPublicKeyInfo(inter.certificate.spki).keyBytes,
    source: storeSource(t.store, inter.keyIdHex),
    clock: t.clock,
    validitySeconds: 3600,
  });
  const key = generateKeyPair('ec-p256').privateKey;
  const signerCert = t.authority.issueOcspSigner(spkiOf(key), 86400, { actor: 'test' });
  responder.setSigner({ signer: signerFor(key), certificate: signerCert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spkiOf(key)).keyBytes).digest() });
  const leaf = t.authority.issue({ commonName: 'a', dnsNames: ['a.acme.internal'], key: { spki: spkiOf(generateKeyPair('ec-p256').privateKey) } }, { actor: 'test' });
  const request = (serialHex: string, nonce?: Buffer, issuer = inter.certificate) =>
    createOcspRequest({ issuerSubject: issuer.subject, issuerKeyBits: readPublicKeyInfo(issuer.spki).keyBytes, serial: Buffer.from(serialHex, 'hex'), ...(nonce ? { nonce } : {}) });
  return { ...t, responder, leaf, request };
}

const statusOf = (der: Buffer) => AsnConvert.parse(der, asn1Ocsp.OCSPResponse).responseStatus;

describe('OcspResponder', () => {
  it('ok/good, then revoked once invalidated; nonce-less answers are pre-signed and reused', () => {
    const { responder, leaf, request, authority, clock } = setup();
    const a = responder.respond(request(leaf.serial));
    const b = responder.respond(request(leaf.serial));
    expect(a.body.equals(b.body)).toBe(true);
    const view = readCertificate(leaf.der);
    expect(verifyOcspResponse(a.body, { leaf: view, issuer: authority.intermediate.certificate, nonce: undefined, now: clock.now() }).status).toBe('good');
    authority.revoke(leaf.serial, 'keyCompromise', { actor: 'test' });
    expect(responder.respond(request(leaf.serial)).body.equals(a.body)).toBe(true); // still cached until told
    responder.invalidate([leaf.serial]);
    const revoked = verifyOcspResponse(responder.respond(request(leaf.serial)).body, { leaf: view, issuer: authority.intermediate.certificate, nonce: undefined, now: clock.now() });
    expect(revoked).toMatchObject({ status: 'revoked', reason: 'keyCompromise', signedBy: 'delegated responder' });
  });

  it('ok/a nonce is echoed and never served from the cache', () => {
    const { responder, leaf, request, authority, clock } = setup();
    const nonce = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const answer = responder.respond(request(leaf.serial, nonce));
    expect(answer.cache).toBeUndefined();
    expect(verifyOcspResponse(answer.body, { leaf: readCertificate(leaf.der), issuer: authority.intermediate.certificate, nonce, now: clock.now() }).status).toBe('good');
    expect(() => verifyOcspResponse(answer.body, { leaf: readCertificate(leaf.der), issuer: authority.intermediate.certificate, nonce: Buffer.alloc(16), now: clock.now() })).toThrow(/nonce/);
  });

  it('ok/unknown for a never-issued serial, not cached', () => {
    const { responder, request } = setup();
    const answer = responder.respond(request('4abc'));
    const basic = AsnConvert.parse(AsnConvert.parse(answer.body, asn1Ocsp.OCSPResponse).responseBytes!.response.buffer as ArrayBuffer, asn1Ocsp.BasicOCSPResponse);
    expect(basic.tbsResponseData.responses[0]!.certStatus.unknown).toBeDefined();
    // signed afresh each time (ECDSA signatures are randomized), unlike the cached good answer
    expect(answer.body.equals(responder.respond(request('4abc')).body)).toBe(false);
    expect(answer.cache).toBeUndefined();
  });

  it.each([
    ['fail/another issuer → unauthorized', 'other', 6],
    ['fail/garbage → malformedRequest', 'garbage', 1],
  ])('%s', (_n, kind, status) => {
    const { responder, leaf, request, authority } = setup();
    const other = createTestCa().authority.intermediate.certificate;
    const der = kind === 'other' ? request(leaf.serial, undefined, other) : Buffer.from('30030201ff', 'hex');
    expect(statusOf(responder.respond(der).body)).toBe(status);
    void authority;
  });
});

describe('Authority.signCrl', () => {
  it('yields to the event loop between pages of a large CRL', async () => {
    const { authority, store } = createTestCa();
    const now = new Date();
    for (let i = 0; i < 25_000; i++) {
      const serial = `4${i.toString(16).padStart(31, '0')}`;
      store.recordIssued(
        { serial, kind: 'leaf', issuerKeyId: authority.intermediate.keyIdHex, commonName: 'x', spiffeId: null, dnsNames: [], ipAddresses: [], notBefore: now, notAfter: new Date('2026-06-20T00:00:00Z'), der: Buffer.alloc(1), revokedAt: null, reason: null },
        { at: now, actor: 't', action: 'issue', target: serial, outcome: 'ok' },
      );
      store.recordRevocation(serial, now, 'superseded', { at: now, actor: 't', action: 'revoke', target: serial, outcome: 'ok' });
    }
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const crl = await authority.signCrl('intermediate');
    ticking = false;
    expect(crl.entries).toBe(25_000);
    expect(ticks).toBeGreaterThanOrEqual(2);
  });
});
