// The audit log's hash chain: `ca audit verify` passes an untouched log and names the row of any edit, deletion or reordering.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { GENESIS, rowHash, verifyChain, type ChainedRow } from '../../src/store/audit-chain.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { ca, caJson } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

function populatedCa(): string {
  const dir = join(tempDir(), 'ca');
  expect(ca(['init', '--dir', dir, '--name', 'Audit CA', '--trust-domain', 'acme.internal']).code).toBe(0);
  for (const name of ['a', 'b', 'c']) expect(ca(['issue', name, '--dir', dir, '--dns', `${name}.acme.internal`, '--cert-out', join(dir, '..', `${name}.pem`), '--key-out', join(dir, '..', `${name}.key`)]).code).toBe(0);
  expect(ca(['revoke', '--cert', join(dir, '..', 'b.pem'), '--dir', dir]).code).toBe(0);
  return dir;
}

function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, 'ca.db'));
  db.exec(sql);
  db.close();
}

function refused(dir: string, rowText: string, problem: string): void {
  const r = ca(['audit', 'verify', '--dir', dir]);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(rowText);
  expect(r.stderr).toContain(problem);
  expect(r.stderr).toContain('[ERR_AUDIT_TAMPERED]');
}

describe('ca audit verify', () => {
  it('ok/an untouched log verifies, and every row links to the one before it', () => {
    const dir = populatedCa();
    const v = caJson<{ ok: boolean; rows: number; head: string }>(['audit', 'verify', '--dir', dir]);
    expect(v.ok).toBe(true);
    expect(v.rows).toBeGreaterThanOrEqual(5); // init, three issues, one revoke
    expect(v.head).toMatch(/^[0-9a-f]{64}$/);
    expect(ca(['audit', 'verify', '--dir', dir]).stdout).toContain(`audit log intact: ${v.rows} rows`);
  });

  it('fail/an edited row is named', () => {
    const dir = populatedCa();
    tamper(dir, "UPDATE audit_log SET actor = 'local:someone-else' WHERE id = 3");
    refused(dir, 'audit row 3 was edited', 'edited');
  });

  it('fail/a deleted row breaks the link of the row after it', () => {
    const dir = populatedCa();
    tamper(dir, 'DELETE FROM audit_log WHERE id = 2');
    refused(dir, 'audit row 3 does not follow row 1', 'deleted, inserted or reordered');
  });

  it('fail/reordered rows (contents swapped between ids) are found', () => {
    const dir = populatedCa();
    tamper(
      dir,
      `CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (2, 3);
       UPDATE audit_log SET at = (SELECT at FROM t WHERE id = 3), actor = (SELECT actor FROM t WHERE id = 3), action = (SELECT action FROM t WHERE id = 3), target = (SELECT target FROM t WHERE id = 3), outcome = (SELECT outcome FROM t WHERE id = 3), detail = (SELECT detail FROM t WHERE id = 3), prev_hash = (SELECT prev_hash FROM t WHERE id = 3), hash = (SELECT hash FROM t WHERE id = 3) WHERE id = 2;
       UPDATE audit_log SET at = (SELECT at FROM t WHERE id = 2), actor = (SELECT actor FROM t WHERE id = 2), action = (SELECT action FROM t WHERE id = 2), target = (SELECT target FROM t WHERE id = 2), outcome = (SELECT outcome FROM t WHERE id = 2), detail = (SELECT detail FROM t WHERE id = 2), prev_hash = (SELECT prev_hash FROM t WHERE id = 2), hash = (SELECT hash FROM t WHERE id = 2) WHERE id = 3;`,
    );
    refused(dir, 'audit row 2 does not follow row 1', 'reordered');
  });

  it('fail/a row re-hashed by someone who knows the scheme still breaks the next link', () => {
    const dir = populatedCa();
    const db = new Database(join(dir, 'ca.db'));
    const row = db.prepare<[], ChainedRow>('SELECT * FROM audit_log WHERE id = 2').get()!;
    const forged = { ...row, actor: 'local:forger' };
    db.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE id = 2').run(forged.actor, rowHash(Buffer.from(row.prev_hash!), forged));
    db.close();
    refused(dir, 'audit row 3 does not follow row 2', 'reordered');
  });

  it('ok/verifyChain over an empty log, and a chain built by hand', () => {
    expect(verifyChain([])).toMatchObject({ ok: true, rows: 0 });
    const a = { id: 1, at: 1, actor: 'x', action: 'issue', target: 'aa', outcome: 'ok', detail: null, prev_hash: GENESIS, hash: Buffer.alloc(0) };
    a.hash = rowHash(GENESIS, a);
    expect(verifyChain([a])).toMatchObject({ ok: true, rows: 1, head: a.hash.toString('hex') });
    expect(verifyChain([{ ...a, hash: null }])).toMatchObject({ ok: false, problem: 'unsealed', rowId: 1 });
  });

  it('ok/a database from before the chain is sealed by its migration, oldest row first', () => {
    const path = join(tempDir(), 'old.db');
    const store = openSqliteStore(path, { create: true });
    for (const target of ['aa', 'bb', 'cc']) store.appendAudit({ at: new Date('2026-01-01T00:00:00Z'), actor: 'local:old', action: 'issue', target, outcome: 'ok' });
    store.close();
    // Turn it back into a version-4 database: no hash columns, no record of migration 5.
    const db = new Database(path);
    db.exec("ALTER TABLE audit_log DROP COLUMN hash; ALTER TABLE audit_log DROP COLUMN prev_hash; DELETE FROM schema_migrations WHERE version = 5;");
    db.close();
    const reopened = openSqliteStore(path);
    expect(reopened.verifyAuditChain()).toMatchObject({ ok: true, rows: 3 });
    reopened.appendAudit({ at: new Date('2026-01-02T00:00:00Z'), actor: 'local:new', action: 'revoke', target: 'aa', outcome: 'ok' });
    expect(reopened.verifyAuditChain()).toMatchObject({ ok: true, rows: 4 });
    reopened.close();
  });
});
