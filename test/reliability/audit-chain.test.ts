// The audit log's keyed chain: `ca audit verify` passes an untouched log and names the row of any edit, deletion,
// reordering or recomputed chain; a signed head shows a log cut back from its end; old databases are resealed.

import { createHmac, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { auditSealKey, signAuditHead } from '../../src/audit/audit-key.js';
import { generateKeyPair, privateKeyFromPem } from '../../src/crypto/keys.js';
import { GENESIS, legacyRowHash, sealRow, verifyChain, type ChainedRow } from '../../src/store/audit-chain.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa } from '../helpers/service.js';
import { TEST_SEAL_KEY } from '../helpers/test-ca.js';
import { tempDir } from '../helpers/tmp.js';

/** A CA with a few issuances and a revocation, made once by the CLI; each test tampers with a copy of its own. */
let template: string | undefined;
function populatedCa(): string {
  if (!template) {
    template = join(mkdtempSync(join(tmpdir(), 'meshca-audit-template-')), 'ca');
    expect(ca(['init', '--dir', template, '--name', 'Audit CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    for (const name of ['a', 'b', 'c']) expect(ca(['issue', name, '--dir', template, '--dns', `${name}.acme.internal`, '--cert-out', join(template, '..', `${name}.pem`), '--key-out', join(template, '..', `${name}.key`)]).code).toBe(0);
    expect(ca(['revoke', '--cert', join(template, '..', 'b.pem'), '--dir', template]).code).toBe(0);
  }
  const dir = join(tempDir(), 'ca');
  cpSync(template, dir, { recursive: true });
  return dir;
}
afterAll(() => {
  if (template) rmSync(join(template, '..'), { recursive: true, force: true });
});

function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, 'ca.db'));
  db.exec(sql);
  db.close();
}

function refused(dir: string, rowText: string, problem: string, extra: string[] = []): void {
  const r = ca(['audit', 'verify', '--dir', dir, ...extra]);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(rowText);
  expect(r.stderr).toContain(problem);
  expect(r.stderr).toContain('[ERR_AUDIT_TAMPERED]');
}

const auditKeyOf = (dir: string) => privateKeyFromPem(readFileSync(join(dir, 'private', 'audit.key'), 'utf8'), undefined, 'audit key');

/** Rewrites the whole chain from row 1 with `seal`, as someone who can write ca.db (but lacks the key) would. */
function recompute(dir: string, seal: (prev: Buffer, row: ChainedRow) => Buffer, edit: (row: ChainedRow) => ChainedRow = (r) => r): void {
  const db = new Database(join(dir, 'ca.db'));
  const update = db.prepare('UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?');
  let prev: Buffer = GENESIS;
  for (const original of db.prepare<[], ChainedRow>('SELECT * FROM audit_log ORDER BY id').all()) {
    const row = edit(original);
    const hash = seal(prev, row);
    update.run(row.actor, prev, hash, row.id);
    prev = hash;
  }
  db.close();
}

describe('changes made to ca.db outside meshca', () => {
  it('fail/a trigger (here, one that drops the audit rows of a planted key) makes every command refuse the database', async () => {
    const dir = populatedCa();
    tamper(dir, "CREATE TRIGGER hide_evil BEFORE INSERT ON audit_log WHEN NEW.actor = 'apikey:evil' BEGIN SELECT RAISE(IGNORE); END;");
    for (const args of [['audit', 'verify', '--dir', dir], ['list', '--dir', dir], ['issue', 'x', '--dir', dir, '--dns', 'x.acme.internal', '--cert-out', join(dir, '..', 'x.pem'), '--key-out', join(dir, '..', 'x.key')]]) {
      const r = ca(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('trigger "hide_evil"');
      expect(r.stderr).toContain('[ERR_AUDIT_TAMPERED]');
    }
  });

  it('fail/the schema rolled back to the unkeyed chain (to have the rows sealed again after editing them) is refused', async () => {
    const dir = populatedCa();
    const weekAgo = new Date(Date.now() - 7 * 86_400_000);
    utimesSync(join(dir, 'private', 'audit.key'), weekAgo, weekAgo); // a directory in use for a while
    tamper(dir, "UPDATE audit_log SET actor = 'local:someone-else' WHERE id = 3; DELETE FROM schema_migrations WHERE version >= 6;");
    refused(dir, 'older than its audit key', 'rolled back');
  });

  it('fail/an API key inserted, widened or un-revoked in ca.db is refused and listed as tampered', async () => {
    const dir = populatedCa();
    const key = ca(['apikey', 'create', '--dir', dir, '--name', 'narrow', '--scope', 'list']).stdout.trim();
    const gone = ca(['apikey', 'create', '--dir', dir, '--name', 'gone', '--scope', 'list']).stdout.trim();
    expect(ca(['apikey', 'revoke', 'gone', '--dir', dir]).code).toBe(0);
    const secret = 'S'.repeat(43);
    const { createHash } = await import('node:crypto');
    tamper(dir, `UPDATE api_keys SET scopes = '["issue:spiffe:spiffe://acme.internal/**","list"]' WHERE name = 'narrow';
      UPDATE api_keys SET revoked_at = NULL WHERE name = 'gone';
      INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at) VALUES ('0123456789abcdef', 'evil', X'${createHash('sha256').update(secret).digest('hex')}', '["issue:spiffe:spiffe://acme.internal/**"]', 0, 4102444800);`);
    const listed = caJson<Array<{ name: string; status: string }>>(['apikey', 'list', '--dir', dir]);
    expect(Object.fromEntries(listed.map((k) => [k.name, k.status]))).toMatchObject({ narrow: 'tampered', gone: 'tampered', evil: 'tampered' });
    const svc = await startCa(dir);
    try {
      const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      for (const bearer of [key, gone, `mca_0123456789abcdef_${secret}`]) {
        const r = await httpsRequest(`${svc.url}/v1/certificates`, { ca: rootPem, headers: { authorization: `Bearer ${bearer}` } });
        expect([r.status, r.json().error.code]).toEqual([401, 'ERR_APIKEY_INVALID']);
        expect(r.json().error.message).toContain('outside meshca');
      }
    } finally {
      await svc.stop();
    }
  });
});

describe('ca audit verify', () => {
  it('ok/an untouched log verifies, every row sealed with the key in private/, which is not in the database', async () => {
    const dir = populatedCa();
    const v = caJson<{ ok: boolean; rows: number; lastId: number; head: string }>(['audit', 'verify', '--dir', dir]);
    expect(v).toMatchObject({ ok: true, lastId: v.rows });
    expect(v.rows).toBeGreaterThanOrEqual(6); // init (2), three issues, one revoke
    expect(v.head).toMatch(/^[0-9a-f]{64}$/);
    expect(ca(['audit', 'verify', '--dir', dir]).stdout).toContain(`audit log intact: ${v.rows} rows`);
    const seal = auditSealKey(auditKeyOf(dir));
    expect(readFileSync(join(dir, 'ca.db')).includes(seal)).toBe(false);
  });

  it('fail/an edited row is named', async () => {
    const dir = populatedCa();
    tamper(dir, "UPDATE audit_log SET actor = 'local:someone-else' WHERE id = 3");
    refused(dir, 'audit row 3 was edited', 'edited');
  });

  it('fail/a row deleted from the middle is named missing', async () => {
    const dir = populatedCa();
    tamper(dir, 'DELETE FROM audit_log WHERE id = 2');
    refused(dir, 'audit row 2 is missing', 'deleted');
  });

  it('fail/rows deleted from the end show as a gap once the next row is written', async () => {
    const dir = populatedCa();
    const last = caJson<{ lastId: number }>(['audit', 'verify', '--dir', dir]).lastId;
    tamper(dir, `DELETE FROM audit_log WHERE id >= ${last - 1}`);
    expect(ca(['issue', 'd', '--dir', dir, '--dns', 'd.acme.internal', '--cert-out', join(dir, '..', 'd.pem'), '--key-out', join(dir, '..', 'd.key')]).code).toBe(0);
    refused(dir, `audit rows ${last - 1}-${last} are missing`, 'deleted');
  });

  it('fail/reordered rows (contents swapped between ids) are found', async () => {
    const dir = populatedCa();
    tamper(
      dir,
      `CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (2, 3);
       UPDATE audit_log SET at = (SELECT at FROM t WHERE id = 3), actor = (SELECT actor FROM t WHERE id = 3), action = (SELECT action FROM t WHERE id = 3), target = (SELECT target FROM t WHERE id = 3), outcome = (SELECT outcome FROM t WHERE id = 3), detail = (SELECT detail FROM t WHERE id = 3), prev_hash = (SELECT prev_hash FROM t WHERE id = 3), hash = (SELECT hash FROM t WHERE id = 3) WHERE id = 2;
       UPDATE audit_log SET at = (SELECT at FROM t WHERE id = 2), actor = (SELECT actor FROM t WHERE id = 2), action = (SELECT action FROM t WHERE id = 2), target = (SELECT target FROM t WHERE id = 2), outcome = (SELECT outcome FROM t WHERE id = 2), detail = (SELECT detail FROM t WHERE id = 2), prev_hash = (SELECT prev_hash FROM t WHERE id = 2), hash = (SELECT hash FROM t WHERE id = 2) WHERE id = 3;`,
    );
    refused(dir, 'audit row 2 does not follow row 1', 'reordered');
  });

  it('fail/renumbered rows are found', async () => {
    const dir = populatedCa();
    tamper(dir, 'UPDATE audit_log SET id = id + 100');
    refused(dir, 'audit rows 1-100 are missing', 'deleted');
  });

  it.each([
    ['the unkeyed SHA-256 scheme of migration 005', (prev: Buffer, row: ChainedRow) => legacyRowHash(prev, row)],
    ['HMAC under a guessed key', (prev: Buffer, row: ChainedRow) => sealRow(randomBytes(32), prev, row)],
    ['HMAC keyed with the database itself', (prev: Buffer, row: ChainedRow) => createHmac('sha256', 'ca.db').update(prev).update(JSON.stringify(row)).digest()],
  ])('fail/an edit with the whole chain recomputed (%s) is found at the first row', async (_n, seal) => {
    const dir = populatedCa();
    recompute(dir, seal, (row) => (row.id === 3 ? { ...row, actor: 'local:forger' } : row));
    refused(dir, 'audit row 1 was edited', 'sealed with another key');
  });

  it('fail/a log cut back from its end (id counter reset too) passes alone, and fails against a signed head recorded earlier', async () => {
    const dir = populatedCa();
    const store = openSqliteStore(join(dir, 'ca.db'), { sealKey: auditSealKey(auditKeyOf(dir)) });
    const head = (await store.auditHead())!;
    store.close();
    const jws = await signAuditHead(auditKeyOf(dir), { trustDomain: 'acme.internal', id: head.id, seal: head.seal, at: new Date() });
    expect(caJson<{ signedHead: { id: number } }>(['audit', 'verify', '--dir', dir, '--head', jws]).signedHead.id).toBe(head.id);

    tamper(dir, `DELETE FROM audit_log WHERE id >= ${head.id - 1}; UPDATE sqlite_sequence SET seq = ${head.id - 2} WHERE name = 'audit_log';`);
    expect(ca(['audit', 'verify', '--dir', dir]).code).toBe(0);
    refused(dir, `no longer holds row ${head.id}`, 'cut back', ['--head', jws]);

    const foreign = await signAuditHead(generateKeyPair('ec-p256').privateKey, { trustDomain: 'acme.internal', id: 1, seal: head.seal, at: new Date() });
    const r = ca(['audit', 'verify', '--dir', dir, '--head', foreign]);
    expect([r.code, r.stderr.trim()]).toEqual([1, expect.stringContaining('[ERR_AUDIT_HEAD_INVALID]')]);
  });

  it('ok/ca serve logs and serves a signed head that ca audit verify --head accepts', async () => {
    const dir = populatedCa();
    const svc = await startCa(dir, { args: ['--audit-head-interval', '1s'] });
    try {
      const served = await (await fetch(`${svc.httpUrl}/v1/audit/head`)).json() as { id: number; seal: string; jws: string; publicKey: { thumbprint: string } };
      expect(served.seal).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.parse(Buffer.from(served.jws.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256', typ: 'meshca-audit-head+jwt', kid: served.publicKey.thumbprint });
      const overTls = await httpsRequest(`${svc.url}/v1/audit/head`, { ca: readFileSync(join(dir, 'root.pem'), 'utf8') });
      expect(overTls.status).toBe(200);
      await new Promise((r) => setTimeout(r, 1500));
      expect(svc.log().split('\n').filter((l) => l.includes('"msg":"audit head"')).length).toBeGreaterThanOrEqual(2);
      expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', dir, '--head', served.jws]).ok).toBe(true);
    } finally {
      await svc.stop();
    }
  });

  it('ok/verifyChain over an empty log, and a chain built by hand', async () => {
    const key = randomBytes(32);
    expect(await verifyChain([], key)).toMatchObject({ ok: true, rows: 0 });
    const a: ChainedRow & { hash: Buffer } = { id: 1, at: 1, actor: 'x', action: 'issue', target: 'aa', outcome: 'ok', detail: null, prev_hash: GENESIS, hash: Buffer.alloc(0) };
    a.hash = sealRow(key, GENESIS, a);
    expect(await verifyChain([a], key)).toMatchObject({ ok: true, rows: 1, head: a.hash.toString('hex') });
    expect(await verifyChain([a], randomBytes(32))).toMatchObject({ ok: false, problem: 'edited', rowId: 1 });
    expect(await verifyChain([{ ...a, hash: null }], key)).toMatchObject({ ok: false, problem: 'unsealed', rowId: 1 });
    expect(await verifyChain([{ ...a, id: 2 }], key)).toMatchObject({ ok: false, problem: 'missing', rowId: 2 });
  });
});

describe('upgrading a database written by meshca 0.1 (schema 5, unkeyed chain, untyped scopes)', () => {
  /** A database as schema 5 left it: migrations 001-005 only, audit rows chained with plain SHA-256. */
  function schema5(path: string, rows: Array<{ actor: string; action: string; target: string }>, scopes: string[]): void {
    const db = new Database(path);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const dirUrl = new URL('../../src/store/migrations/sqlite/', import.meta.url);
    for (const file of readdirSync(dirUrl).filter((f) => Number(f.slice(0, 3)) <= 5).sort()) {
      db.exec(readFileSync(new URL(file, dirUrl), 'utf8'));
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(Number(file.slice(0, 3)), file);
    }
    let prev: Buffer = GENESIS;
    rows.forEach((r, i) => {
      const row = { id: i + 1, at: 1_700_000_000 + i, actor: r.actor, action: r.action, target: r.target, outcome: 'ok', detail: null };
      const hash = legacyRowHash(prev, row);
      db.prepare('INSERT INTO audit_log (id, at, actor, action, target, outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(row.id, row.at, row.actor, row.action, row.target, row.outcome, row.detail, prev, hash);
      prev = hash;
    });
    db.prepare('INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, 0, 4102444800)').run('0123456789abcdef', 'legacy', Buffer.alloc(32), JSON.stringify(scopes));
    db.close();
  }

  const rows = [{ actor: 'local:old', action: 'issue', target: 'aa' }, { actor: 'local:old', action: 'issue', target: 'bb' }, { actor: 'local:old', action: 'revoke', target: 'aa' }];

  it('ok/a key that no scope survives typing is revoked by the upgrade, and says why', async () => {
    const path = join(tempDir(), 'ca.db');
    schema5(path, rows, ['issue:10.*.0.1']);
    const store = openSqliteStore(path, { sealKey: TEST_SEAL_KEY, auditKeyFresh: true });
    expect(await store.findApiKey('0123456789abcdef')).toMatchObject({ scopes: [], revokedAt: expect.any(Date), intact: true });
    expect((await store.auditLog()).at(-1)).toMatchObject({ action: 'apikey-revoke', target: 'apikey:legacy', detail: { why: expect.stringContaining('no scope') } });
    store.close();
  });

  it('fail/a database rolled back to the unkeyed schema is not sealed again by a key that already existed', async () => {
    const path = join(tempDir(), 'ca.db');
    schema5(path, rows, ['list']);
    expect(() => openSqliteStore(path, { sealKey: TEST_SEAL_KEY })).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_TAMPERED', message: expect.stringContaining('older than its audit key') }));
  });

  it('ok/the chain is resealed with the key, the unkeyed chain recorded intact, and untyped scopes typed (one that fits no type dropped), each change audited', async () => {
    const path = join(tempDir(), 'ca.db');
    schema5(path, rows, ['issue:*.acme.internal', 'issue:spiffe://acme.internal/ns/*', 'issue:10.0.0.*', 'issue:10.*.0.1', 'list']);
    const store = openSqliteStore(path, { sealKey: TEST_SEAL_KEY, auditKeyFresh: true });
    expect(await store.verifyAuditChain()).toMatchObject({ ok: true, rows: 5 });
    const log = await store.auditLog();
    expect(log[3]).toMatchObject({ actor: 'system:migrate', action: 'audit-chain-keyed', detail: { rows: 3, unkeyedChain: 'intact' } });
    expect(log[4]).toMatchObject({ action: 'apikey-scopes-typed', target: 'apikey:legacy', detail: { dropped: ['issue:10.*.0.1'] } });
    expect((await store.findApiKey('0123456789abcdef'))!.scopes).toEqual(['issue:dns:*.acme.internal', 'issue:spiffe:spiffe://acme.internal/ns/*', 'issue:ip:10.0.0.0/24', 'list']);
    store.close();
  });

  it('ok/an unkeyed chain that was already tampered with is resealed, and the audit log says what was wrong', async () => {
    const path = join(tempDir(), 'ca.db');
    schema5(path, rows, ['list']);
    const db = new Database(path);
    db.exec("UPDATE audit_log SET actor = 'local:forger' WHERE id = 2");
    db.close();
    const store = openSqliteStore(path, { sealKey: TEST_SEAL_KEY, auditKeyFresh: true });
    expect((await store.auditLog()).find((r) => r.action === 'audit-chain-keyed')?.detail).toMatchObject({ unkeyedChain: 'row 2 was edited' });
    store.close();
  });
});
