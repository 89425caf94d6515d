import { describe, expect, it } from 'vitest';
import { addSeconds } from '../../../src/crypto/clock.js';
import { generateKeyPair, spkiOf, type KeyType } from '../../../src/crypto/keys.js';
import { x509 } from '../../../src/crypto/x509.js';
import { BACKENDS } from '../../helpers/databases.js';
import { createTestCa, signRootCrl, T0 } from '../../helpers/test-ca.js';
import { makeCsr } from '../../helpers/csr.js';

const operator = { actor: 'local:test' };
const key = (type: KeyType = 'ec-p256') => ({ spki: spkiOf(generateKeyPair(type).privateKey) });

describe.each(BACKENDS)('%s', (backend) => {
  describe('Authority.issue', () => {
    it('ok/leaf carries the profile, read back by @peculiar/x509', async () => {
      const { authority, store } = await createTestCa({ backend, backend });
      const leaf = await authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/ns/prod/api', dnsNames: ['API.acme.internal'], ipAddresses: ['10.0.0.1'], key: key() }, operator);
      const cert = new x509.X509Certificate(leaf.der);
      expect(cert.subject).toBe('CN=api');
      expect(cert.notBefore.toISOString()).toBe(addSeconds(T0, -60).toISOString());
      expect(cert.notAfter.toISOString()).toBe(addSeconds(T0, 86400).toISOString());
      expect(cert.serialNumber.toLowerCase()).toBe(leaf.serial);
      expect(leaf.serial).toMatch(/^[4-7][0-9a-f]{31}$/);
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
      expect(san.names.items.map((n) => `${n.type}:${n.value}`)).toEqual(['url:spiffe://acme.internal/ns/prod/api', 'dns:api.acme.internal', 'ip:10.0.0.1']);
      expect(cert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
      expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
      expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
      expect(cert.getExtension(x509.AuthorityInfoAccessExtension)!.ocsp.map((g) => g.value)).toEqual(['http://127.0.0.1:8080/ocsp']);
      expect(await cert.verify({ publicKey: new x509.X509Certificate(authority.intermediate.certificate.der).publicKey, signatureOnly: true })).toBe(true);
      const stored = (await store.findBySerial(leaf.serial))!;
      expect(stored.der.equals(leaf.der)).toBe(true);
      expect(stored.dnsNames).toEqual(['api.acme.internal']);
      const auditRow = (await store.auditLog()).at(-1)!;
      expect(auditRow).toMatchObject({ actor: 'local:test', action: 'issue', target: leaf.serial, outcome: 'ok' });
    });

    it('ok/RSA leaf adds keyEncipherment', async () => {
      const { authority } = await createTestCa({ backend, backend });
      const leaf = await authority.issue({ commonName: 'rsa', dnsNames: ['rsa.acme.internal'], key: key('rsa-2048') }, operator);
      expect(new x509.X509Certificate(leaf.der).getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    });

    it('ok/a CSR is verified and its requested names are ignored', async () => {
      const { authority } = await createTestCa({ backend, backend });
      const csr = await makeCsr('ec-p256', { dnsNames: ['evil.example.com'] });
      const leaf = await authority.issue({ commonName: 'api', dnsNames: ['api.acme.internal'], key: { csr: csr.der } }, operator);
      expect(leaf.dnsNames).toEqual(['api.acme.internal']);
      expect(new x509.X509Certificate(leaf.der).toString('text')).not.toContain('evil.example.com');
    });

    it.each([
      ['fail/no names', { commonName: 'x' }, 'ERR_NAME_REQUIRED'],
      ['fail/foreign SPIFFE ID', { commonName: 'x', spiffeId: 'spiffe://evil.internal/x' }, 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN'],
      ['fail/malformed SPIFFE ID', { commonName: 'x', spiffeId: 'spiffe://acme.internal' }, 'ERR_SPIFFE_ID_INVALID'],
      ['fail/bad DNS name', { commonName: 'x', dnsNames: ['a..b'] }, 'ERR_DNS_NAME_INVALID'],
      ['fail/wildcard', { commonName: 'x', dnsNames: ['*.acme.internal'] }, 'ERR_DNS_NAME_INVALID'],
      ['fail/bad IP', { commonName: 'x', ipAddresses: ['10.0.0.300'] }, 'ERR_IP_ADDRESS_INVALID'],
      ['fail/TTL above max', { commonName: 'x', dnsNames: ['x.acme.internal'], ttlSeconds: 8 * 86400 }, 'ERR_TTL_TOO_LONG'],
      ['fail/empty name', { commonName: '', dnsNames: ['x.acme.internal'] }, 'ERR_NAME_INVALID'],
      ['fail/name too long', { commonName: 'n'.repeat(65), dnsNames: ['x.acme.internal'] }, 'ERR_NAME_INVALID'],
    ])('%s', async (_n, request, code) => {
      const { authority, store } = await createTestCa({ backend, backend });
      const before = (await store.auditLog()).length;
      await expect(authority.issue({ ...request, key: key() }, operator)).rejects.toThrow(expect.objectContaining({ code }));
      expect(await authority.list({})).toEqual([]);
      expect((await store.auditLog()).length).toBe(before);
    });

    it('fail/TTL above max says so instead of capping', async () => {
      const { authority } = await createTestCa({ backend, backend });
      await expect(authority.issue({ commonName: 'x', dnsNames: ['x.acme.internal'], ttlSeconds: 30 * 86400, key: key() }, operator)).rejects.toThrow(
        'policy: TTL 30d exceeds this CA\'s maximum of 7d',
      );
    });

    it('fail/a leaf never outlives its intermediate', async () => {
      const { authority, clock } = await createTestCa({ backend, policy: { maxTtlSeconds: 400 * 86400 } });
      clock.set(addSeconds(authority.intermediate.notAfter, -3600));
      await expect(authority.issue({ commonName: 'x', dnsNames: ['x.acme.internal'], key: key() }, operator)).rejects.toThrow(expect.objectContaining({ code: 'ERR_ISSUER_EXPIRES_FIRST' }));
    });
  });

  describe('Authority.revoke and CRLs', () => {
    it('ok/revoke, revoke again changes nothing, CRL lists it with reason and a growing number', async () => {
      const t = await createTestCa({ backend, backend });
      const { authority, store, clock } = t;
      const a = await authority.issue({ commonName: 'a', dnsNames: ['a.acme.internal'], key: key() }, operator);
      const b = await authority.issue({ commonName: 'b', dnsNames: ['b.acme.internal'], key: key() }, operator);
      clock.set(addSeconds(T0, 10));
      expect((await authority.revoke(a.serial.toUpperCase(), 'keyCompromise', operator)).result).toBe('revoked');
      clock.set(addSeconds(T0, 20));
      const again = await authority.revoke(a.serial, 'superseded', operator);
      expect(again.result).toBe('already-revoked');
      expect(again.record.reason).toBe('keyCompromise');
      expect(again.record.revokedAt!.toISOString()).toBe(addSeconds(T0, 10).toISOString());
      expect((await store.auditLog()).at(-1)).toMatchObject({ action: 'revoke', outcome: 'noop' });

      const first = await authority.signCrl();
      const second = await authority.signCrl();
      expect(second.number).toBe(first.number + 1n);
      const crl = new x509.X509Crl(second.der);
      expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toEqual([a.serial]);
      expect(crl.entries[0]!.reason).toBe(x509.X509CrlReason.keyCompromise);
      expect(crl.entries[0]!.revocationDate.toISOString()).toBe(addSeconds(T0, 10).toISOString());
      expect(crl.nextUpdate!.getTime() - crl.thisUpdate.getTime()).toBe(86400_000);
      expect(crl.entries.some((e) => e.serialNumber.toLowerCase() === b.serial)).toBe(false);
      expect((await signRootCrl(t)).entries).toBe(0);
    });

    it('ok/expired revoked certificates drop off after the retention', async () => {
      const { authority, clock } = await createTestCa({ backend, backend });
      const a = await authority.issue({ commonName: 'a', dnsNames: ['a.acme.internal'], ttlSeconds: 3600, key: key() }, operator);
      await authority.revoke(a.serial, 'unspecified', operator);
      clock.set(addSeconds(T0, 3600 + 6 * 86400));
      expect((await authority.signCrl()).entries).toBe(1);
      clock.set(addSeconds(T0, 3600 + 8 * 86400));
      expect((await authority.signCrl()).entries).toBe(0);
    });

    it.each([
      ['fail/unknown serial', '0abc', 'ERR_CERTIFICATE_NOT_FOUND'],
      ['fail/not hex', 'zz', 'ERR_CERTIFICATE_NOT_FOUND'],
    ])('%s', async (_n, serial, code) => {
      const { authority } = await createTestCa({ backend, backend });
      await expect(authority.revoke(serial, 'unspecified', operator)).rejects.toThrow(expect.objectContaining({ code }));
    });

    it('fail/the intermediate cannot be revoked with ca revoke', async () => {
      const { authority, store } = await createTestCa({ backend, backend });
      const { kind, der } = { kind: 'intermediate' as const, der: authority.intermediate.certificate.der };
      await store.recordIssued(
        { serial: authority.intermediate.certificate.serial, kind, issuerKeyId: authority.root.keyIdHex, commonName: 'int', spiffeId: null, dnsNames: [], ipAddresses: [], notBefore: T0, notAfter: T0, der, revokedAt: null, reason: null, subjectKeyHash: 'aa', renewedFrom: null, issuedAt: T0 },
        { at: T0, actor: 't', action: 'init', target: null, outcome: 'ok' },
      );
      await expect(authority.revoke(authority.intermediate.certificate.serial, 'unspecified', operator)).rejects.toThrow(expect.objectContaining({ code: 'ERR_REVOKE_CA_CERTIFICATE' }));
    });
  });

  describe('Authority.list', () => {
    it('ok/filters by status and expiry window', async () => {
      const { authority, clock } = await createTestCa({ backend, backend });
      const soon = await authority.issue({ commonName: 'soon', dnsNames: ['soon.acme.internal'], ttlSeconds: 3600, key: key() }, operator);
      const later = await authority.issue({ commonName: 'later', dnsNames: ['later.acme.internal'], ttlSeconds: 5 * 86400, key: key() }, operator);
      const gone = await authority.issue({ commonName: 'gone', dnsNames: ['gone.acme.internal'], key: key() }, operator);
      await authority.revoke(gone.serial, 'superseded', operator);
      const serials = async (q: Parameters<typeof authority.list>[0]) => (await authority.list(q)).map((r) => r.serial).sort();
      expect(await serials({ expiringWithinSeconds: 2 * 3600 })).toEqual([soon.serial]);
      expect(await serials({ status: 'revoked' })).toEqual([gone.serial]);
      expect(await serials({ status: 'valid' })).toEqual([soon.serial, later.serial].sort());
      clock.set(addSeconds(T0, 7200));
      expect(await serials({ status: 'expired' })).toEqual([soon.serial]);
    });
  });
});
