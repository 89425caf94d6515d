import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TEST_SEAL_KEY } from '../../helpers/test-ca.js';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { tempDir } from '../../helpers/tmp.js';

describe('openSqliteStore', () => {
  it('ok/creates a WAL database with synchronous=FULL and the schema', () => {
    const path = join(tempDir(), 'ca.db');
    const store = openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY });
    store.close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations').all()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((version) => ({ version })));
    db.close();
  });

  it('ok/CRL numbers persist and only grow across reopenings', () => {
    const path = join(tempDir(), 'ca.db');
    let store = openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY });
    expect([store.nextCrlNumber('aa'), store.nextCrlNumber('aa'), store.nextCrlNumber('bb')]).toEqual([1n, 2n, 1n]);
    store.close();
    store = openSqliteStore(path, { sealKey: TEST_SEAL_KEY });
    expect(store.nextCrlNumber('aa')).toBe(3n);
    store.close();
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

  it('fail/a schema newer than this meshca', () => {
    const path = join(tempDir(), 'ca.db');
    openSqliteStore(path, { create: true, sealKey: TEST_SEAL_KEY }).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations VALUES (999, ?, 0)').run('999_future.sql');
    db.close();
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT', message: expect.stringContaining('newer than this meshca') }));
  });

  it('fail/a SQLite file without meshca tables', () => {
    const path = join(tempDir(), 'other.db');
    const db = new Database(path);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL); INSERT INTO schema_migrations VALUES (1, 'x', 0)");
    db.close();
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }));
  });
});
