import { describe, expect, it } from 'vitest';
import { generateKeyPair, spkiOf } from '../../../src/crypto/keys.js';
import { findMatching } from '../../../src/authority/inventory.js';
import { identitiesOf, identityQuery, parseIdentityFilter } from '../../../src/auth/scopes.js';
import { createTestCa } from '../../helpers/test-ca.js';

describe('findMatching', () => {
  it('ok/pages through more certificates than one page holds and stops at the limit, in notAfter order', async () => {
    const t = await createTestCa();
    const spki = spkiOf(generateKeyPair('ec-p256').privateKey);
    // 2,300 leaves over three pages; every 500th is in the ns/pay namespace.
    for (let i = 0; i < 2300; i++) {
      const ns = i % 500 === 7 ? 'pay' : 'web';
      await t.authority.issue({ commonName: `s${i}`, spiffeId: `spiffe://acme.internal/ns/${ns}/s${i}`, ttlSeconds: 3600 + i, key: { spki } }, { actor: 'test' });
    }
    const pattern = parseIdentityFilter('spiffe://acme.internal/ns/pay/*');
    const matches = (r: { spiffeId: string | null; dnsNames: readonly string[]; ipAddresses: readonly string[] }) => identitiesOf(r).some((i) => pattern.matches(i));
    const query = { ...identityQuery({ kind: 'leaf' as const }, pattern), now: t.clock.now() };
    return Promise.all([findMatching(t.store, query, matches, 100), findMatching(t.store, query, matches, 2), findMatching(t.store, { kind: 'leaf', now: t.clock.now() }, matches, 100)]).then(([all, two, unnarrowed]) => {
      expect(all.map((r) => r.commonName)).toEqual(['s7', 's507', 's1007', 's1507', 's2007']);
      expect(two.map((r) => r.commonName)).toEqual(['s7', 's507']);
      expect(unnarrowed.map((r) => r.commonName)).toEqual(all.map((r) => r.commonName));
    });
  });

  it('ok/the narrowing is only a narrowing: a literal with LIKE wildcards in it matches itself, not more', async () => {
    const t = await createTestCa();
    const spki = spkiOf(generateKeyPair('ec-p256').privateKey);
    await t.authority.issue({ commonName: 'a', spiffeId: 'spiffe://acme.internal/a_b', key: { spki } }, { actor: 'test' });
    await t.authority.issue({ commonName: 'b', spiffeId: 'spiffe://acme.internal/axb', key: { spki } }, { actor: 'test' });
    const pattern = parseIdentityFilter('spiffe://acme.internal/a_b');
    const found = await findMatching(t.store, { ...identityQuery({ kind: 'leaf' as const }, pattern), now: t.clock.now() }, () => true, 10);
    expect(found.map((r) => r.commonName)).toEqual(['a']);
  });
});
