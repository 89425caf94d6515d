import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, readPublicKeyInfo, signerFor, spkiOf } from '../../../src/crypto/keys.js';
import { AsnConvert, asn1Ocsp } from '../../../src/crypto/x509.js';
import { readCertificate } from '../../../src/pki/certificate.js';
import { Tag, explicit, octets, oid, seq, tlv, unsignedInteger } from '../../../src/crypto/der.js';
import { OID_NONCE, createOcspRequest, issuerHashes } from '../../../src/revocation/ocsp.js';
import { OcspResponder } from '../../../src/revocation/ocsp-responder.js';
import { storeSource } from '../../../src/revocation/ocsp-source.js';
import { SigningBudget, clientOf } from '../../../src/revocation/signing-budget.js';
import { verifyOcspResponse } from '../../../src/revocation/ocsp-verify.js';
import { BACKENDS, type Backend } from '../../helpers/databases.js';
import { createTestCa } from '../../helpers/test-ca.js';

async function setup(backend: Backend = 'sqlite') {
  const t = await createTestCa({ backend });
  const inter = t.authority.intermediate;
  const responder = new OcspResponder({
    issuerSubject: inter.subject,
    issuerKeyBits: readPublicKeyInfo(inter.certificate.spki).keyBytes,
    source: storeSource(t.store, inter.keyIdHex),
    clock: t.clock,
    validitySeconds: 3600,
  });
  const key = generateKeyPair('ec-p256').privateKey;
  const signerCert = await t.authority.issueOcspSigner(t.authority.intermediate, spkiOf(key), 86400, { actor: 'test' });
  responder.setSigner({ signer: signerFor(key), certificate: signerCert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spkiOf(key)).keyBytes).digest() });
  const leaf = await t.authority.issue({ commonName: 'a', dnsNames: ['a.acme.internal'], key: { spki: spkiOf(generateKeyPair('ec-p256').privateKey) } }, { actor: 'test' });
  const request = (serialHex: string, nonce?: Buffer, issuer = inter.certificate) =>
    createOcspRequest({ issuerSubject: issuer.subject, issuerKeyBits: readPublicKeyInfo(issuer.spki).keyBytes, serial: Buffer.from(serialHex, 'hex'), ...(nonce ? { nonce } : {}) });
  return { ...t, responder, leaf, request };
}

const statusOf = (der: Buffer) => AsnConvert.parse(der, asn1Ocsp.OCSPResponse).responseStatus;

describe.each(BACKENDS)('%s', (backend) => {
  describe('OcspResponder', () => {
    it('ok/good, then revoked once invalidated; nonce-less answers are pre-signed and reused', async () => {
      const { responder, leaf, request, authority, clock } = await setup(backend);
      const a = await responder.respond(request(leaf.serial));
      const b = await responder.respond(request(leaf.serial));
      expect(a.body.equals(b.body)).toBe(true);
      const view = readCertificate(leaf.der);
      expect(verifyOcspResponse(a.body, { leaf: view, issuer: authority.intermediate.certificate, nonce: undefined, now: clock.now() }).status).toBe('good');
      await authority.revoke(leaf.serial, 'keyCompromise', { actor: 'test' });
      expect((await responder.respond(request(leaf.serial))).body.equals(a.body)).toBe(true); // still cached until told
      responder.invalidate([leaf.serial]);
      const revoked = verifyOcspResponse((await responder.respond(request(leaf.serial))).body, { leaf: view, issuer: authority.intermediate.certificate, nonce: undefined, now: clock.now() });
      expect(revoked).toMatchObject({ status: 'revoked', reason: 'keyCompromise', signedBy: 'delegated responder' });
    });

    it('ok/a nonce is echoed and never served from the cache', async () => {
      const { responder, leaf, request, authority, clock } = await setup(backend);
      const nonce = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
      const answer = await responder.respond(request(leaf.serial, nonce));
      expect(answer.cache).toBeUndefined();
      expect(verifyOcspResponse(answer.body, { leaf: readCertificate(leaf.der), issuer: authority.intermediate.certificate, nonce, now: clock.now() }).status).toBe('good');
      expect(() => verifyOcspResponse(answer.body, { leaf: readCertificate(leaf.der), issuer: authority.intermediate.certificate, nonce: Buffer.alloc(16), now: clock.now() })).toThrow(/a nonce that is not ours/);
    });

    it('ok/unknown for a never-issued serial, not cached', async () => {
      const { responder, request } = await setup(backend);
      const answer = await responder.respond(request('4abc'));
      const basic = AsnConvert.parse(AsnConvert.parse(answer.body, asn1Ocsp.OCSPResponse).responseBytes!.response.buffer as ArrayBuffer, asn1Ocsp.BasicOCSPResponse);
      expect(basic.tbsResponseData.responses[0]!.certStatus.unknown).toBeDefined();
      // signed afresh each time (ECDSA signatures are randomized), unlike the cached good answer
      expect(answer.body.equals((await responder.respond(request('4abc'))).body)).toBe(false);
      expect(answer.cache).toBeUndefined();
    });

    it.each([
      ['fail/another issuer → unauthorized', 'other', 6],
      ['fail/garbage → malformedRequest', 'garbage', 1],
    ])('%s', async (_n, kind, status) => {
      const { responder, leaf, request, authority } = await setup(backend);
      const other = (await createTestCa()).authority.intermediate.certificate;
      const der = kind === 'other' ? request(leaf.serial, undefined, other) : Buffer.from('30030201ff', 'hex');
      expect(statusOf((await responder.respond(der)).body)).toBe(status);
      void authority;
    });
  });

  describe('OcspResponder under flooding', () => {
    const HASHES = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' } as const;

    /** A request for `serial` with a CertID of hash `alg` and the given parameter encoding, and optionally a nonce. */
    function variant(t: Awaited<ReturnType<typeof setup>>, serial: Buffer, alg: keyof typeof HASHES, params: Buffer[], nonce?: Buffer): Buffer {
      const inter = t.authority.intermediate;
      const h = issuerHashes(inter.subject, readPublicKeyInfo(inter.certificate.spki).keyBytes)[alg];
      const certId = seq(seq(oid(HASHES[alg]), ...params), octets(h.name), octets(h.key), serial[0]! === 0 ? tlv(Tag.INTEGER, serial) : unsignedInteger(serial));
      const extensions = nonce ? [explicit(2, seq(seq(oid(OID_NONCE), octets(octets(nonce)))))] : [];
      return seq(seq(seq(seq(certId)), ...extensions));
    }

    /** The responder's signatures, counted. */
    async function counted(t: Awaited<ReturnType<typeof setup>>) {
      const key = generateKeyPair('ec-p256').privateKey;
      const cert = await t.authority.issueOcspSigner(t.authority.intermediate, spkiOf(key), 86400, { actor: 'test' });
      const signer = signerFor(key);
      const count = { signatures: 0 };
      t.responder.setSigner({ signer: { algorithm: signer.algorithm, sign: (d) => (count.signatures++, signer.sign(d)) }, certificate: cert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spkiOf(key)).keyBytes).digest() });
      return count;
    }

    it('ok/one serial asked for in every accepted CertID encoding costs at most eight signatures, however often', async () => {
      const t = await setup(backend);
      const count = await counted(t);
      const serial = Buffer.from(t.leaf.serial, 'hex');
      for (let i = 0; i < 400; i++) {
        const alg = (Object.keys(HASHES) as Array<keyof typeof HASHES>)[i % 4]!;
        const answer = await t.responder.respond(variant(t, serial, alg, i % 8 < 4 ? [tlv(Tag.NULL, Buffer.alloc(0))] : []), `10.0.0.${i % 200}`);
        expect(statusOf(answer.body)).toBe(0);
        const verified = verifyOcspResponse(answer.body, { leaf: readCertificate(t.leaf.der), issuer: t.authority.intermediate.certificate, nonce: undefined, now: t.clock.now() });
        expect(verified.status).toBe('good');
      }
      expect(count.signatures).toBeLessThanOrEqual(8);
    });

    it.each([
      ['parameters other than absent or NULL', (t: Awaited<ReturnType<typeof setup>>, serial: Buffer) => variant(t, serial, 'sha1', [octets(Buffer.from('junk'))])],
      ['two parameters', (t: Awaited<ReturnType<typeof setup>>, serial: Buffer) => variant(t, serial, 'sha1', [tlv(Tag.NULL, Buffer.alloc(0)), tlv(Tag.NULL, Buffer.alloc(0))])],
      ['a serial with a redundant leading zero', (t: Awaited<ReturnType<typeof setup>>, serial: Buffer) => variant(t, Buffer.concat([Buffer.alloc(1), serial]), 'sha1', [])],
    ])('fail/a CertID with %s is a malformedRequest, costing no signature', async (_n, make) => {
      const t = await setup(backend);
      const count = await counted(t);
      for (let i = 0; i < 50; i++) expect(statusOf((await t.responder.respond(make(t, Buffer.from(t.leaf.serial, 'hex')), '10.0.0.1')).body)).toBe(1);
      expect(count.signatures).toBe(0);
    });

    it('ok/past its signing budget a client gets the pre-signed answer without its nonce, or tryLater; other clients keep theirs', async () => {
      const t = await setup(backend);
      const responder = new OcspResponder({ issuerSubject: t.authority.intermediate.subject, issuerKeyBits: readPublicKeyInfo(t.authority.intermediate.certificate.spki).keyBytes, source: storeSource(t.store, t.authority.intermediate.keyIdHex), clock: t.clock, validitySeconds: 3600, budget: new SigningBudget(5, () => t.clock.now().getTime()) });
      await counted({ ...t, responder });
      const view = readCertificate(t.leaf.der);
      const ask = (client: string, nonce?: Buffer) => responder.respond(t.request(t.leaf.serial, nonce), client);
      await ask('10.0.0.1'); // pre-signs the nonce-less answer
      let echoed = 0;
      let withoutNonce = 0;
      for (let i = 0; i < 60; i++) {
        const nonce = Buffer.from(i.toString(16).padStart(32, '0'), 'hex');
        const body = (await ask('10.0.0.1', nonce)).body;
        const verified = verifyOcspResponse(body, { leaf: view, issuer: t.authority.intermediate.certificate, nonce, now: t.clock.now() });
        expect(verified.status).toBe('good');
        if (verified.nonceEchoed) echoed++;
        else withoutNonce++;
      }
      expect(echoed).toBeGreaterThanOrEqual(8);
      expect(echoed).toBeLessThanOrEqual(12);
      expect(withoutNonce).toBe(60 - echoed);
      // Another client has its own budget.
      const nonce = Buffer.alloc(16, 7);
      expect(verifyOcspResponse((await ask('10.0.0.2', nonce)).body, { leaf: view, issuer: t.authority.intermediate.certificate, nonce, now: t.clock.now() }).status).toBe('good');
      // A never-issued serial has no pre-signed answer: past the budget it is tryLater (3).
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push(statusOf((await responder.respond(t.request('4abc'), '10.0.0.3')).body));
      expect(statuses.filter((s) => s === 0).length).toBeLessThanOrEqual(12);
      expect(statuses.filter((s) => s === 3).length).toBeGreaterThanOrEqual(18);
    });
  });

  describe('SigningBudget', () => {
    it.each([
      ['10.0.0.1', '10.0.0.1'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
    ])('ok/%s draws from %s', async (address, client) => {
      expect(clientOf(address)).toBe(client);
    });

    it('ok/many addresses together get no more than ten clients\' worth: rotating addresses does not lift the limit', () => {
      const t = 0;
      const budget = new SigningBudget(5, () => t);
      let granted = 0;
      for (let i = 0; i < 3000; i++) if (budget.take(`10.1.${Math.floor(i / 250)}.${i % 250}`)) granted++;
      expect(granted).toBe(100); // the shared burst: 20 × 5
      const v6 = new SigningBudget(5, () => t);
      let fromOneHost = 0;
      for (let i = 0; i < 100; i++) if (v6.take(`2001:db8:1:2::${i.toString(16)}`)) fromOneHost++;
      expect(fromOneHost).toBe(10); // one /64 is one client: its burst of 2 × 5
    });
  });

  describe('Authority.signCrl', () => {
    it('yields to the event loop between pages of a large CRL', async () => {
      const { authority, store } = await createTestCa();
      const now = new Date();
      for (let i = 0; i < 25_000; i++) {
        const serial = `4${i.toString(16).padStart(31, '0')}`;
        await store.recordIssued(
          { serial, kind: 'leaf', issuerKeyId: authority.intermediate.keyIdHex, commonName: 'x', spiffeId: null, dnsNames: [], ipAddresses: [], notBefore: now, notAfter: new Date('2026-06-20T00:00:00Z'), der: Buffer.alloc(1), revokedAt: null, reason: null, subjectKeyHash: serial, renewedFrom: null, issuedAt: now },
          { at: now, actor: 't', action: 'issue', target: serial, outcome: 'ok' },
        );
        await store.recordRevocation(serial, now, 'superseded', { at: now, actor: 't', action: 'revoke', target: serial, outcome: 'ok' });
      }
      let ticks = 0;
      let ticking = true;
      const tick = () => {
        ticks++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const crl = await authority.signCrl();
      ticking = false;
      expect(crl.entries).toBe(25_000);
      expect(ticks).toBeGreaterThanOrEqual(2);
    });
  });
});
