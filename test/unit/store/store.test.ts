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
import { TEST_SEAL_KEY } from '../../helpers/test-ca.js';
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

  it('ok/concurrent CRL snapshots get distinct numbers, in order', async () => {
    const where = await location(backend);
    const store = await openCaStore({ ...where, create: true, sealKey: TEST_SEAL_KEY });
    const got = (await Promise.all(Array.from({ length: 20 }, () => store.crlSnapshot('cc', { notAfterSince: new Date(0), numberAtLeast: 0n }, () => {})))).map((s) => s.number);
    expect([...got].sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    await store.close();
  });
});

describe('the SQLite store', () => {
  it('ok/creates a WAL database with synchronous=FULL and the schema', async () => {
    const path = join(tempDir(), 'ca.db');
    await openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY }).close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations').all()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((version) => ({ version })));
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
  it('ok/replicas opening an empty database at once migrate it once', async () => {
    const databaseUrl = await freshDatabaseUrl();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openCaStore({ sqlitePath: '', databaseUrl, create: true, sealKey: TEST_SEAL_KEY })));
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    expect(await sql`SELECT version FROM schema_migrations ORDER BY version`).toEqual([{ version: 1 }]);
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
    await expect(openCaStore({ sqlitePath: '', databaseUrl, sealKey: TEST_SEAL_KEY })).rejects.toMatchObject({ code: 'ERR_STORE_TOO_NEW', message: expect.stringContaining('newer than this meshca understands (1)') });
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
