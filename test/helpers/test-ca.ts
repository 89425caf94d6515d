// An in-memory test CA: real keys, a real store (SQLite `:memory:`, or a fresh PostgreSQL database), a frozen clock, made fresh for each test.

import { Authority, signIssuerCrl, type SignedCrl } from '../../src/authority/authority.js';
import { createHierarchy } from '../../src/authority/bootstrap.js';
import { loadIssuer, type Issuer } from '../../src/authority/issuer.js';
import type { LeafPolicy } from '../../src/authority/policy.js';
import { fixedClock, type Clock } from '../../src/crypto/clock.js';
import type { KeyType } from '../../src/crypto/keys.js';
import { parseTrustDomain } from '../../src/identity/spiffe.js';
import { publicationUrls } from '../../src/pki/profile.js';
import type { CaStore } from '../../src/store/ca-store.js';
import { openCaStore } from '../../src/store/open-store.js';
import { freshDatabaseUrl, type Backend } from './databases.js';
import { afterEach } from 'vitest';

/** The audit seal key of test stores (a real CA derives it from private/audit.key). */
export const TEST_SEAL_KEY = Buffer.alloc(32, 7);

/** A fixed instant, away from any date edge, used as "now" by default. */
export const T0 = new Date('2026-06-15T12:00:00Z');

export interface TestCa {
  authority: Authority;
  /** The root with its key (a real CA keeps it offline; tests sign its CRL with {@link signRootCrl}). */
  root: Issuer;
  store: CaStore;
  clock: Clock & { set(d: Date): void };
}

/** A settable frozen clock. */
export function settableClock(at: Date = T0): Clock & { set(d: Date): void } {
  let now = fixedClock(at).now();
  return { now: () => new Date(now), set: (d) => (now = fixedClock(d).now()) };
}

const open: CaStore[] = [];
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

/** A new empty store of `backend`, closed after the test. */
export async function testStore(backend: Backend = 'sqlite'): Promise<CaStore> {
  const store = await openCaStore({ sqlitePath: ':memory:', databaseUrl: backend === 'postgres' ? await freshDatabaseUrl() : undefined, create: true, sealKey: TEST_SEAL_KEY, auditKeyFresh: true });
  open.push(store);
  return store;
}

export async function createTestCa(options: { keyType?: KeyType; policy?: Partial<LeafPolicy>; now?: Date; backend?: Backend } = {}): Promise<TestCa> {
  const clock = settableClock(options.now ?? T0);
  const trustDomain = parseTrustDomain('acme.internal');
  const urls = publicationUrls('http://127.0.0.1:8080');
  const h = createHierarchy({ name: 'Test CA', trustDomain, keyType: options.keyType ?? 'ec-p256', urls, now: clock.now() });
  const store = await testStore(options.backend);
  const root = loadIssuer(h.root.der, h.root.key, 'root');
  const authority = new Authority({
    root,
    intermediate: loadIssuer(h.intermediate.der, h.intermediate.key, 'intermediate'),
    policy: { trustDomain, defaultTtlSeconds: 86400, maxTtlSeconds: 7 * 86400, allowWildcards: false, backdateSeconds: 60, ...options.policy },
    urls,
    store,
    clock,
    crlValiditySeconds: 86400,
    crlRetentionSeconds: 7 * 86400,
  });
  return { authority, root, store, clock };
}

/** The root's CRL of a test CA, as `ca init` and rotations sign it. */
export function signRootCrl(t: Pick<TestCa, 'root' | 'store' | 'clock'>): Promise<SignedCrl> {
  return signIssuerCrl({ store: t.store, issuer: t.root, level: 'root', now: t.clock.now(), validitySeconds: 400 * 86400, retentionSeconds: 7 * 86400 });
}
