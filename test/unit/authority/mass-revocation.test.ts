// Lineage and identity revocation on each backend: what is selected, what is written (or, dry, not), and what is refused.

import { describe, expect, it } from 'vitest';
import type { Authority } from '../../../src/authority/authority.js';
import type { CaStore } from '../../../src/store/ca-store.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { generateKeyPair, spkiOf, subjectKeyHash } from '../../../src/crypto/keys.js';
import { BACKENDS } from '../../helpers/databases.js';
import { createTestCa, T0, type TestCa } from '../../helpers/test-ca.js';

const operator = { actor: 'local:test' };
const newKey = () => ({ spki: spkiOf(generateKeyPair('ec-p256').privateKey) });
const API = 'spiffe://acme.internal/ns/prod/api';

/**
 * A chain of three renewals plus a rekey: first → second → third → fourth (same key k1), fourth → rekeyed (k2).
 * Beside it: `sameKey2`, issued on its own for k2 (in the lineage through its key), and unrelated leaves.
 */
async function chain(t: TestCa) {
  const { authority, clock } = t;
  const k1 = newKey();
  // A second between issuances, so oldest-first is creation order.
  const later = (n: number) => clock.set(addSeconds(T0, n));
  const first = await authority.issue({ commonName: 'api', spiffeId: API, key: k1 }, operator);
  later(1);
  const second = await authority.renew(first.der, undefined, operator);
  later(2);
  const third = await authority.renew(second.der, undefined, operator);
  later(3);
  const fourth = await authority.renew(third.der, undefined, operator);
  const k2 = newKey();
  later(4);
  const rekeyed = await authority.renew(fourth.der, k2, operator);
  later(5);
  const sameKey2 = await authority.issue({ commonName: 'api-side', dnsNames: ['side.acme.internal'], key: k2 }, operator);
  const web = await authority.issue({ commonName: 'web', spiffeId: 'spiffe://acme.internal/ns/prod/web', key: newKey() }, operator);
  const dev = await authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/ns/dev/api', key: newKey() }, operator);
  const lineage = [first, second, third, fourth, rekeyed, sameKey2].map((l) => l.serial);
  return { first, second, third, fourth, rekeyed, sameKey2, web, dev, lineage, k1, k2 };
}

/** Everything a revocation could change: the certificates, the audit log and the revocation log. */
async function snapshot(store: CaStore) {
  return JSON.stringify([await store.list({ now: T0 }), await store.auditLog(), await store.revocationsSince(0)]);
}

const serials = (list: readonly { serial: string }[]) => list.map((c) => c.serial).sort();

async function revokedSerials(authority: Authority): Promise<string[]> {
  return serials(await authority.list({ status: 'revoked' }));
}

describe.each(BACKENDS)('%s', (backend) => {
  describe('Authority.lineageOf', () => {
    it('ok/the chain, its rekey and the leaves with a key of the chain, oldest first, from any member', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      expect((await t.authority.lineageOf(c.first.serial)).map((r) => r.serial)).toEqual(c.lineage);
      // From the rekeyed one: the certificates it was renewed from count too (revoking the newest of a workload must
      // not leave its predecessor, still valid and renewable, to bring the lineage back), and so the whole lineage.
      expect(serials(await t.authority.lineageOf(c.rekeyed.serial.toUpperCase()))).toEqual([...c.lineage].sort());
      // From the third: the first two share its key, so the whole lineage.
      expect(serials(await t.authority.lineageOf(c.third.serial))).toEqual([...c.lineage].sort());
    });
  });

  describe('Authority.revokeLineage', () => {
    it('ok/on the first revokes all, each with an audit row and a revocation log row; nothing else', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      const seq = (await t.store.revocationsSince(0)).seq;
      const auditBefore = (await t.store.auditLog()).length;
      t.clock.set(addSeconds(T0, 10));
      const r = await t.authority.revokeLineage(c.first.serial, 'superseded', operator);
      expect(r).toMatchObject({ dryRun: false, reason: 'superseded', selector: { lineage: c.first.serial }, alreadyRevoked: [], expired: [], skipped: [], keysBlocked: [] });
      expect(r.revoked.map((x) => x.serial)).toEqual(c.lineage);
      expect(await revokedSerials(t.authority)).toEqual([...c.lineage].sort());
      for (const s of c.lineage) expect((await t.store.findBySerial(s))).toMatchObject({ reason: 'superseded', revokedAt: addSeconds(T0, 10) });
      expect((await t.store.revocationsSince(seq)).serials!.sort()).toEqual([...c.lineage].sort());
      const rows = (await t.store.auditLog()).slice(auditBefore);
      expect(rows.map((a) => a.target).sort()).toEqual([...c.lineage].sort());
      for (const a of rows) expect(a).toMatchObject({ actor: 'local:test', action: 'revoke', outcome: 'ok', detail: { reason: 'superseded', lineage: c.first.serial } });
      expect(await t.store.isKeyBlocked(subjectKeyHash(c.k1.spki))).toBe(false);

      // Again: everything is already revoked; one noop row says so.
      const again = await t.authority.revokeLineage(c.first.serial, 'superseded', operator);
      expect(again.revoked).toEqual([]);
      expect(serials(again.alreadyRevoked)).toEqual([...c.lineage].sort());
      expect((await t.store.auditLog()).at(-1)).toMatchObject({ action: 'revoke', target: c.first.serial, outcome: 'noop' });
    });

    it('ok/--dry-run reports the same and changes nothing: certificates, audit log, revocation log', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      await t.authority.revoke(c.second.serial, 'unspecified', operator);
      const before = await snapshot(t.store);
      const dry = await t.authority.revokeLineage(c.first.serial, 'keyCompromise', operator, { dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect(serials(dry.revoked)).toEqual(c.lineage.filter((s) => s !== c.second.serial).sort());
      expect(serials(dry.alreadyRevoked)).toEqual([c.second.serial]);
      expect([...dry.keysBlocked].sort()).toEqual([subjectKeyHash(c.k1.spki), subjectKeyHash(c.k2.spki)].sort());
      expect(await snapshot(t.store)).toBe(before);
      expect(await t.store.isKeyBlocked(subjectKeyHash(c.k1.spki))).toBe(false);

      const real = await t.authority.revokeLineage(c.first.serial, 'keyCompromise', operator);
      expect(serials(real.revoked)).toEqual(serials(dry.revoked));
      expect(serials(real.alreadyRevoked)).toEqual([c.second.serial]);
      expect([...real.keysBlocked].sort()).toEqual([...dry.keysBlocked].sort());
      expect(await t.store.isKeyBlocked(subjectKeyHash(c.k2.spki))).toBe(true);
      expect((await t.store.auditLog()).filter((a) => a.action === 'key-block')).toHaveLength(2);
      await expect(t.authority.issue({ commonName: 'x', dnsNames: ['x.acme.internal'], key: c.k2 }, operator)).rejects.toMatchObject({ code: 'ERR_KEY_BLOCKED' });
    });

    it('ok/expired members are reported, not revoked', async () => {
      const t = await createTestCa({ backend });
      const a = await t.authority.issue({ commonName: 'short', dnsNames: ['short.acme.internal'], ttlSeconds: 3600, key: newKey() }, operator);
      t.clock.set(addSeconds(T0, 1800));
      const b = await t.authority.renew(a.der, undefined, operator);
      t.clock.set(addSeconds(T0, 4200));
      const r = await t.authority.revokeLineage(a.serial, 'unspecified', operator);
      expect(serials(r.expired)).toEqual([a.serial]);
      expect(serials(r.revoked)).toEqual([b.serial]);
      expect((await t.store.findBySerial(a.serial))!.revokedAt).toBeNull();
    });

    it.each([
      ['fail/unknown serial', '0abc', 'ERR_CERTIFICATE_NOT_FOUND'],
      ['fail/not hex', 'zz', 'ERR_CERTIFICATE_NOT_FOUND'],
    ])('%s', async (_n, serial, code) => {
      const t = await createTestCa({ backend });
      await expect(t.authority.revokeLineage(serial, 'unspecified', operator)).rejects.toMatchObject({ code });
    });

    it('fail/a lineage larger than the limit revokes nothing', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      const before = await snapshot(t.store);
      await expect(t.authority.revokeLineage(c.first.serial, 'unspecified', operator, { limit: 3 })).rejects.toMatchObject({ code: 'ERR_REVOCATION_TOO_BROAD', message: expect.stringContaining('more than 3 certificates') });
      expect(await snapshot(t.store)).toBe(before);
    });
  });

  describe('Authority.revokeIdentity', () => {
    it('ok/revokes exactly the unexpired leaves the pattern matches, never the CA service\'s', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      const service = await t.authority.issueCaServiceLeaf(newKey().spki, { dnsNames: ['ca.acme.internal'], ipAddresses: [] }, { actor: 'system:serve' });
      const matching = [c.first, c.second, c.third, c.fourth, c.rekeyed, c.web].map((l) => l.serial);
      const r = await t.authority.revokeIdentity('spiffe:spiffe://acme.internal/ns/prod/*', 'cessationOfOperation', operator);
      expect(r.selector).toEqual({ identity: 'spiffe://acme.internal/ns/prod/*' });
      expect(serials(r.revoked)).toEqual([...matching].sort());
      expect(await revokedSerials(t.authority)).toEqual([...matching].sort());
      // The pattern that also matches the CA service's own leaf: it is reported as skipped and stays valid.
      const all = await t.authority.revokeIdentity('spiffe://acme.internal/**', 'cessationOfOperation', operator);
      expect(serials(all.revoked)).toEqual([c.dev.serial]);
      expect(serials(all.alreadyRevoked)).toEqual([...matching].sort());
      expect(serials(all.skipped)).toEqual([service.serial]);
      expect((await t.store.findBySerial(service.serial))!.revokedAt).toBeNull();
      expect((await t.store.findBySerial(c.sameKey2.serial))!.revokedAt).toBeNull();
    });

    it('ok/keyCompromise widens the matches to their lineages and blocks their keys', async () => {
      const t = await createTestCa({ backend });
      const c = await chain(t);
      const r = await t.authority.revokeIdentity('dns:side.acme.internal', 'keyCompromise', operator);
      // sameKey2 shares k2 with the rekeyed leaf (not with its predecessors, which renewed into it with k1).
      expect(serials(r.revoked)).toEqual(serials([c.rekeyed, c.sameKey2]));
      expect(r.keysBlocked).toEqual([subjectKeyHash(c.k2.spki)]);
      expect((await t.store.findBySerial(c.fourth.serial))!.revokedAt).toBeNull();
      expect((await t.store.findBySerial(c.web.serial))!.revokedAt).toBeNull();
    });

    it('ok/a pattern that matches nothing is an empty result, --dry-run writes nothing', async () => {
      const t = await createTestCa({ backend });
      await chain(t);
      const before = await snapshot(t.store);
      const dry = await t.authority.revokeIdentity('dns:*.acme.internal', 'unspecified', operator, { dryRun: true });
      expect(serials(dry.revoked)).toHaveLength(1);
      expect(await snapshot(t.store)).toBe(before);
      const none = await t.authority.revokeIdentity('dns:nothing.example.org', 'unspecified', operator);
      expect(none).toMatchObject({ revoked: [], alreadyRevoked: [], expired: [], skipped: [] });
    });

    it.each([
      ['fail/an invalid pattern', 'dns:a..b', 'ERR_PATTERN_INVALID'],
      ['fail/an empty pattern', ' ', 'ERR_PATTERN_INVALID'],
    ])('%s', async (_n, pattern, code) => {
      const t = await createTestCa({ backend });
      await expect(t.authority.revokeIdentity(pattern, 'unspecified', operator)).rejects.toMatchObject({ code });
    });

    it('fail/more matches than the limit: ERR_REVOCATION_TOO_BROAD, nothing revoked', async () => {
      const t = await createTestCa({ backend });
      await chain(t);
      const before = await snapshot(t.store);
      await expect(t.authority.revokeIdentity('spiffe:spiffe://acme.internal/**', 'unspecified', operator, { limit: 2 })).rejects.toMatchObject({ code: 'ERR_REVOCATION_TOO_BROAD', message: expect.stringContaining('narrow the pattern') });
      expect(await snapshot(t.store)).toBe(before);
    });
  });
});
