// Opening the store on each backend: the schema made and migrated, CRL numbers that only grow, and the databases it refuses.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import type { CaStore } from '../../../src/store/ca-store.js';
import { openCaStore } from '../../../src/store/open-store.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { BACKENDS, freshDatabaseUrl, type Backend } from '../../helpers/databases.js';
import type { CertificateRecord } from '../../../src/authority/ports.js';
import { T0, TEST_SEAL_KEY, testStore } from '../../helpers/test-ca.js';
import { tempDir } from '../../helpers/tmp.js';

/** Where a store of `backend` lives, for opening it more than once. */
async function location(backend: Backend): Promise<{ sqlitePath: string; databaseUrl: string | undefined }> {
  return backend === 'sqlite' ? { sqlitePath: join(tempDir(), 'ca.db'), databaseUrl: undefined } : { sqlitePath: '', databaseUrl: await freshDatabaseUrl() };
}

const numbers = async (store: CaStore, issuer: string, times: number): Promise<bigint[]> => {
  const out: bigint[] = [];
  for (let i = 0; i < times; i++) out.push((await store.crlSnapshot(issuer, { notAfterSince: new Date(0), numberAtLeast: 0n }, () => {})).number);
  return out;
};

describe.each(BACKENDS)('the %s store', (backend) => {
  it('ok/CRL numbers persist and only grow across reopenings, per issuer', async () => {
    const where = await location(backend);
    let store = await openCaStore({ ...where, create: true, sealKey: TEST_SEAL_KEY });
    expect([...(await numbers(store, 'aa', 2)), ...(await numbers(store, 'bb', 1))]).toEqual([1n, 2n, 1n]);
    await store.close();
    store = await openCaStore({ ...where, sealKey: TEST_SEAL_KEY });
    expect(await numbers(store, 'aa', 1)).toEqual([3n]);
    await store.close();
  });

  it('ok/a database from before ACME is upgraded, its audit chain intact', async () => {
    const where = await location(backend);
    let store = await openCaStore({ ...where, create: true, sealKey: TEST_SEAL_KEY });
    await store.appendAudit({ at: new Date(0), actor: 'local:test', action: 'init', target: null, outcome: 'ok' });
    const latest = store.schemaVersion;
    await store.close();
    const older = latest - 1;
    if (backend === 'sqlite') {
      const db = new Database(where.sqlitePath);
      db.exec(`DROP TABLE acme_challenges; DROP TABLE acme_authorizations; DROP TABLE acme_orders; DROP TABLE acme_accounts; DROP TABLE acme_eab_keys; ALTER TABLE certificates DROP COLUMN requested_by; DELETE FROM schema_migrations WHERE version = ${latest}`);
      db.close();
    } else {
      const sql = postgres(where.databaseUrl!, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP TABLE acme_challenges; DROP TABLE acme_authorizations; DROP TABLE acme_orders; DROP TABLE acme_spent_nonces; DROP TABLE acme_accounts; DROP TABLE acme_eab_keys; ALTER TABLE certificates DROP COLUMN requested_by; DELETE FROM schema_migrations WHERE version = ${latest}`);
      await sql.end();
    }
    store = await openCaStore({ ...where, sealKey: TEST_SEAL_KEY });
    expect(store.upgraded).toEqual({ from: older, to: latest });
    expect((await store.verifyAuditChain()).ok).toBe(true);
    await store.close();
  });

  it('ok/concurrent CRL snapshots get distinct numbers, in order', async () => {
    const where = await location(backend);
    const store = await openCaStore({ ...where, create: true, sealKey: TEST_SEAL_KEY });
    const got = (await Promise.all(Array.from({ length: 20 }, () => store.crlSnapshot('cc', { notAfterSince: new Date(0), numberAtLeast: 0n }, () => {})))).map((s) => s.number);
    expect([...got].sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    await store.close();
  });
});

/** A leaf row as the store keeps it (a placeholder DER: these tests read rows, not certificates). */
function leafRecord(serial: string, options: { renewedFrom?: string; key?: string; kind?: CertificateRecord['kind'] } = {}): CertificateRecord {
  const notAfter = new Date(T0.getTime() + 86_400_000);
  return { serial, kind: options.kind ?? 'leaf', issuerKeyId: 'ab', commonName: serial, spiffeId: null, dnsNames: [], ipAddresses: [], notBefore: T0, notAfter, der: Buffer.from(serial), revokedAt: null, reason: null, subjectKeyHash: options.key ?? `k-${serial}`, renewedFrom: options.renewedFrom ?? null, issuedAt: T0 };
}

async function record(store: CaStore, records: readonly CertificateRecord[]): Promise<void> {
  const outcomes = await store.recordIssuedBatch(records.map((r) => ({ record: r, audit: { at: T0, actor: 't', action: 'issue', target: r.serial, outcome: 'ok' as const } })));
  expect(outcomes.every((o) => o === 'recorded')).toBe(true);
}

describe.each(BACKENDS)('lineage lookups and bulk revocation on the %s store', (backend) => {
  it('ok/leavesRelatedTo: one step by renewal or by key, leaves only, any number of serials', async () => {
    const store = await testStore(backend);
    await record(store, [leafRecord('a1', { key: 'k1' }), leafRecord('b1', { renewedFrom: 'a1', key: 'k1' }), leafRecord('c1', { renewedFrom: 'b1', key: 'k2' }), leafRecord('d1', { key: 'k2' }), leafRecord('e1', { key: 'k3' }), leafRecord('f1', { key: 'k1', kind: 'intermediate' })]);
    const related = async (serials: string[], keys: string[]) => (await store.leavesRelatedTo(serials, keys)).map((r) => r.serial);
    expect(await related(['a1'], [])).toEqual(['b1']);
    expect(await related([], ['k1'])).toEqual(['a1', 'b1']);
    expect(await related(['b1'], ['k2'])).toEqual(['c1', 'd1']);
    expect(await related([], [])).toEqual([]);
    // More than a chunk of serials (and of keys): 1,200 leaves, each renewed once.
    const hex = (p: string, i: number) => `${p}${i.toString(16).padStart(4, '0')}`;
    const roots = Array.from({ length: 1200 }, (_, i) => leafRecord(hex('7', i)));
    const renewals = roots.map((r, i) => leafRecord(hex('8', i), { renewedFrom: r.serial }));
    await record(store, roots);
    await record(store, renewals);
    expect(await related(roots.map((r) => r.serial), [])).toEqual(renewals.map((r) => r.serial));
    expect(await related([], renewals.map((r) => r.subjectKeyHash))).toEqual(renewals.map((r) => r.serial));
    const successors = await store.successorsOf(['a1', 'b1', 'c1', 'zz', ...roots.map((r) => r.serial)]);
    expect([successors.get('a1'), successors.get('b1'), successors.get('c1'), successors.get('zz')]).toEqual([['b1'], ['c1'], [], []]);
    expect(roots.every((r, i) => successors.get(r.serial)![0] === renewals[i]!.serial)).toBe(true);
  });

  it('ok/recordRevocations: one transaction, a revocation log row and an audit row per newly revoked serial, keys blocked once', async () => {
    const store = await testStore(backend);
    await record(store, [leafRecord('a1', { key: 'k1' }), leafRecord('b1', { key: 'k1' }), leafRecord('c1', { key: 'k2' }), leafRecord('ca', { kind: 'intermediate' })]);
    await store.recordRevocation('c1', T0, 'unspecified', { at: T0, actor: 't', action: 'revoke', target: 'c1', outcome: 'ok' });
    const seq = (await store.revocationsSince(0)).seq;
    const auditBefore = (await store.auditLog()).length;
    const at = new Date(T0.getTime() + 5000);
    const audit = (serial: string) => ({ at, actor: 'local:t', action: 'revoke', target: serial, outcome: 'ok' as const, detail: { reason: 'keyCompromise' } });
    const outcome = await store.recordRevocations(['a1', 'b1', 'c1', 'ca', 'nope', 'a1'], at, 'keyCompromise', audit, { blockKeysOf: ['a1', 'b1', 'c1'] });
    expect(outcome).toEqual({ revoked: ['a1', 'b1'], alreadyRevoked: ['c1'], notFound: ['ca', 'nope'], keysBlocked: ['k1', 'k2'] });
    expect((await store.revocationsSince(seq)).serials).toEqual(['a1', 'b1']);
    expect((await store.auditLog()).slice(auditBefore).map((a) => `${a.action} ${a.target}`)).toEqual(['revoke a1', 'revoke b1', 'key-block a1', 'key-block c1']);
    expect(await store.findBySerial('a1')).toMatchObject({ revokedAt: at, reason: 'keyCompromise' });
    expect(await store.findBySerial('c1')).toMatchObject({ reason: 'unspecified' });
    expect((await store.findBySerial('ca'))!.revokedAt).toBeNull();
    expect(await store.isKeyBlocked('k2')).toBe(true);
    expect((await store.verifyAuditChain()).ok).toBe(true);
    // Again: nothing new, no rows.
    expect(await store.recordRevocations(['a1'], at, 'keyCompromise', audit, { blockKeysOf: ['a1'] })).toEqual({ revoked: [], alreadyRevoked: ['a1'], notFound: [], keysBlocked: ['k1'] });
    expect((await store.revocationsSince(seq)).serials).toEqual(['a1', 'b1']);
  });
});

describe('the SQLite store', () => {
  it('ok/creates a WAL database with synchronous=FULL and the schema', async () => {
    const path = join(tempDir(), 'ca.db');
    await openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY }).close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations').all()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((version) => ({ version })));
    db.close();
  });

  it('fail/missing database', () => {
    expect(() => openSqliteStore(join(tempDir(), 'nope.db'), { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_MISSING' }));
  });

  it('fail/a file that is not SQLite, left as it was', () => {
    const path = join(tempDir(), 'ca.db');
    writeFileSync(path, 'this is not a database'.repeat(100));
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT', message: expect.stringContaining('not a readable meshca database') }));
    expect(readFileSync(path, 'utf8')).toBe('this is not a database'.repeat(100));
  });

  it('fail/a schema newer than this meshca', async () => {
    const path = join(tempDir(), 'ca.db');
    await openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY }).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations VALUES (999, ?, 0)').run('999_future.sql');
    db.close();
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_TOO_NEW', message: expect.stringContaining('newer than this meshca') }));
  });

  it('fail/a SQLite file without meshca tables', () => {
    const path = join(tempDir(), 'other.db');
    const db = new Database(path);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL); INSERT INTO schema_migrations VALUES (1, 'x', 0)");
    db.close();
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }));
  });
});

describe('the PostgreSQL store', () => {
  it('ok/recordRevocations announces the revocation to the other replicas (NOTIFY)', async () => {
    const databaseUrl = await freshDatabaseUrl();
    const [a, b] = [await openCaStore({ sqlitePath: '', databaseUrl, create: true, sealKey: TEST_SEAL_KEY }), await openCaStore({ sqlitePath: '', databaseUrl, sealKey: TEST_SEAL_KEY })];
    try {
      await record(a, [leafRecord('a1')]);
      const heard = new Promise<string>((resolve) => b.onChange(resolve));
      await new Promise((r) => setTimeout(r, 300));
      await a.recordRevocations(['a1'], T0, 'superseded', (serial) => ({ at: T0, actor: 't', action: 'revoke', target: serial, outcome: 'ok' }));
      expect(await Promise.race([heard, new Promise((r) => setTimeout(() => r('silence'), 5000))])).toBe('revocation');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('ok/replicas opening an empty database at once migrate it once', async () => {
    const databaseUrl = await freshDatabaseUrl();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openCaStore({ sqlitePath: '', databaseUrl, create: true, sealKey: TEST_SEAL_KEY })));
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    expect(await sql`SELECT version FROM schema_migrations ORDER BY version`).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    await sql.end();
    for (const s of stores) await s.close();
  });

  it('fail/a database with no CA is not taken for one (without create), and nothing is written to it', async () => {
    const databaseUrl = await freshDatabaseUrl();
    await expect(openCaStore({ sqlitePath: '', databaseUrl, sealKey: TEST_SEAL_KEY })).rejects.toMatchObject({ code: 'ERR_STORE_MISSING', message: expect.stringContaining('holds no meshca CA') });
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    expect(await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`).toEqual([]);
    await sql.end();
  });

  it('fail/a schema newer than this meshca', async () => {
    const databaseUrl = await freshDatabaseUrl();
    await (await openCaStore({ sqlitePath: '', databaseUrl, create: true, sealKey: TEST_SEAL_KEY })).close();
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    await sql`INSERT INTO schema_migrations VALUES (999, '999_future.sql', 0)`;
    await sql.end();
    await expect(openCaStore({ sqlitePath: '', databaseUrl, sealKey: TEST_SEAL_KEY })).rejects.toMatchObject({ code: 'ERR_STORE_TOO_NEW', message: expect.stringContaining('newer than this meshca understands (3)') });
  });

  it('fail/a server that is not there, or a database that does not exist, fails fast with the URL but never its password', async () => {
    const started = Date.now();
    const gone = openCaStore({ sqlitePath: '', databaseUrl: 'postgres://meshca:s3cret-pw@127.0.0.1:1/ca', sealKey: TEST_SEAL_KEY });
    await expect(gone).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE', message: expect.stringContaining('postgres://meshca:***@127.0.0.1:1/ca') });
    await expect(gone).rejects.toMatchObject({ message: expect.not.stringContaining('s3cret') });
    expect(Date.now() - started).toBeLessThan(10_000);
    const missing = new URL(await freshDatabaseUrl());
    missing.pathname = '/no_such_database';
    await expect(openCaStore({ sqlitePath: '', databaseUrl: missing.href, sealKey: TEST_SEAL_KEY })).rejects.toMatchObject({ code: 'ERR_STORE_MISSING', message: expect.stringContaining('does not exist') });
  });
});
