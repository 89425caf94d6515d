import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateKeyPair, spkiOf } from '../../../src/crypto/keys.js';
import { isCaError } from '../../../src/errors.js';
import { revokedEntries, revokedEntry, type RevokedEntry } from '../../../src/revocation/crl.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../../src/revocation/reasons.js';
import { BACKENDS } from '../../helpers/databases.js';
import { createTestCa } from '../../helpers/test-ca.js';
import { makeCsr } from '../../helpers/csr.js';

const caller = { actor: 'apikey:test' };
const key = () => ({ spki: spkiOf(generateKeyPair('ec-p256').privateKey) });

describe.each(BACKENDS)('Authority.issueGrouped (group commit) on %s', (backend) => {
  it('ok/concurrent issuances share transactions, and every one is stored and audited before it resolves', async () => {
    const { authority, store } = await createTestCa({ backend });
    const leaves = await Promise.all(Array.from({ length: 40 }, (_, i) => authority.issueGrouped({ commonName: `s${i}`, dnsNames: [`s${i}.acme.internal`], key: key() }, caller)));
    expect(new Set(leaves.map((l) => l.serial)).size).toBe(40);
    for (const leaf of leaves) expect((await store.findBySerial(leaf.serial))?.der.equals(leaf.der)).toBe(true);
    expect((await store.auditLog({ limit: 1000 })).filter((r) => r.action === 'issue' && r.outcome === 'ok')).toHaveLength(40);
    expect(authority.groupCommit.stats.entries).toBe(40);
    expect(authority.groupCommit.stats.transactions).toBeLessThan(40);
  });

  it('fail/one token spent twice in the same transaction: the second is refused, the first stays stored', async () => {
    const { authority, store } = await createTestCa({ backend });
    const spendToken = { jti: 'jti-1', expiresAt: new Date('2030-01-01T00:00:00Z') };
    const results = await Promise.allSettled([0, 1].map((i) => authority.issueGrouped({ commonName: `t${i}`, dnsNames: [`t${i}.acme.internal`], key: key() }, caller, { spendToken })));
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(isCaError(refused.reason, 'ERR_TOKEN_REPLAYED')).toBe(true);
    expect(await store.list({ now: new Date(0) })).toHaveLength(1);
  });

  it('fail/a bad CSR rejects only its own request', async () => {
    const { authority } = await createTestCa({ backend });
    const csr = (await makeCsr()).der;
    const bad = Buffer.from(csr);
    bad[bad.length - 5]! ^= 0xff;
    const results = await Promise.allSettled([
      authority.issueGrouped({ commonName: 'good', dnsNames: ['good.acme.internal'], key: { csr } }, caller),
      authority.issueGrouped({ commonName: 'bad', dnsNames: ['bad.acme.internal'], key: { csr: bad } }, caller),
    ]);
    expect(results[0].status).toBe('fulfilled');
    expect(results[1].status === 'rejected' && isCaError(results[1].reason, 'ERR_CSR_SIGNATURE')).toBe(true);
  });

  it('ok/renewGrouped keeps the identities and records a renew audit row', async () => {
    const { authority, store } = await createTestCa({ backend });
    const first = await authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', key: key() }, caller);
    const next = await authority.renewGrouped(first.der, undefined, { actor: `cert:${first.serial}` });
    expect(next.spiffeId).toBe('spiffe://acme.internal/api');
    expect((await store.auditLog()).at(-1)).toMatchObject({ action: 'renew', target: next.serial, outcome: 'ok' });
    await expect(authority.renewGrouped(Buffer.from('nonsense'), undefined, caller)).rejects.toMatchObject({ code: 'ERR_CERTIFICATE_UNTRUSTED' });
  });
});

describe('revokedEntries (in-place CRL entry writer)', () => {
  const reasons = Object.keys(REVOCATION_REASONS) as RevocationReason[];
  const entry = fc.record({
    serial: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex')),
    revokedAt: fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(2200, 0, 1) / 1000 }).map((s) => new Date(s * 1000)),
    reason: fc.constantFrom(...reasons),
  });

  it('ok/writes exactly the bytes of the entry-by-entry encoder', async () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (entries: RevokedEntry[]) => {
        expect(revokedEntries(entries).equals(Buffer.concat(entries.map(revokedEntry)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
