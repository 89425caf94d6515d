import { describe, expect, it } from 'vitest';
import type { CertificateRecord } from '../../../src/authority/ports.js';
import { findMatchingPage } from '../../../src/authority/inventory.js';
import { BACKENDS } from '../../helpers/databases.js';
import { T0, testStore } from '../../helpers/test-ca.js';

const leaf = (i: number): CertificateRecord => {
  const serial = (0x1000 + i).toString(16);
  return { serial, kind: 'leaf', issuerKeyId: 'ab', commonName: `n${i}`, spiffeId: `spiffe://acme.internal/${i % 10 === 0 ? 'rare' : 'common'}/${i}`, dnsNames: [], ipAddresses: [], notBefore: T0, notAfter: new Date(T0.getTime() + (i + 1) * 60_000), der: Buffer.from(serial), revokedAt: null, reason: null, subjectKeyHash: `k${i}`, renewedFrom: null, issuedAt: T0 };
};

describe.each(BACKENDS)('one page of a filtered inventory on %s', (backend) => {
  it('ok/reads at most maxScan certificates and says where to go on; following resumeAfter finds every match once, in order', async () => {
    const store = await testStore(backend);
    const records = Array.from({ length: 95 }, (_, i) => leaf(i));
    await store.recordIssuedBatch(records.map((record) => ({ record, audit: { at: T0, actor: 't', action: 'issue', target: record.serial, outcome: 'ok' as const } })));
    const rare = (r: CertificateRecord) => r.spiffeId!.includes('/rare/');
    const found: string[] = [];
    let scans = 0;
    for (let after: CertificateRecord | undefined, first = true; first || after; first = false) {
      const page = await findMatchingPage(store, { kind: 'leaf', now: T0, ...(after ? { after: { notAfter: after.notAfter, serial: after.serial } } : {}) }, rare, 100, 20);
      found.push(...page.records.map((r) => r.commonName));
      after = page.resumeAfter;
      scans++;
    }
    expect(found).toEqual(['n0', 'n10', 'n20', 'n30', 'n40', 'n50', 'n60', 'n70', 'n80', 'n90']);
    expect(scans).toBe(5);
    // Enough matches within the scan: no resume point.
    expect((await findMatchingPage(store, { kind: 'leaf', now: T0 }, rare, 2, 1000)).records.map((r) => r.commonName)).toEqual(['n0', 'n10']);
  });
});
