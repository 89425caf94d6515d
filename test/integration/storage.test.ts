// Operating the store: ca backup of a serving SQLite CA and its restore, ca migrate, and moving a SQLite CA to PostgreSQL.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCrl } from '../../src/revocation/crl.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { freshDatabaseUrl } from '../helpers/databases.js';
import { copyReplica } from '../helpers/replicas.js';
import { ca, caAsync, caJson } from '../helpers/run.js';
import { httpsRequest, startCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const TD = 'acme.internal';
type Listed = { serial: string; status: string; spiffeId: string | null };

/** A SQLite CA with some history: leaves, a revocation, an API key, CRLs signed. */
function caWithHistory(root: string): { dir: string; apiKey: string } {
  const dir = join(root, 'ca');
  expect(ca(['init', '--dir', dir, '--name', 'Stored CA', '--trust-domain', TD]).code).toBe(0);
  for (const name of ['a', 'b', 'c']) expect(ca(['issue', name, '--dir', dir, '--spiffe-id', `spiffe://${TD}/${name}`, '--cert-out', join(root, `${name}.pem`), '--key-out', join(root, `${name}.key`)]).code).toBe(0);
  expect(ca(['revoke', '--cert', join(root, 'b.pem'), '--dir', dir, '--reason', 'keyCompromise']).code).toBe(0);
  const apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', `issue:spiffe:spiffe://${TD}/**,list`]).stdout.trim();
  for (let i = 0; i < 3; i++) expect(ca(['crl', '--dir', dir, '--out', join(root, 'crl.der')]).code).toBe(0);
  return { dir, apiKey };
}

describe('ca backup', () => {
  it('ok/a consistent copy while ca serve issues, 0600, checked; restored into a copy of the directory, it verifies and lists what was issued before', async () => {
    const root = tempDir();
    const { dir, apiKey } = caWithHistory(root);
    const svc = await startCa(dir, { args: ['--rate-limit', '100000'] });
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const busy = (async () => {
      for (let i = 0; i < 30; i++) {
        const { generateKeyPair } = await import('../../src/crypto/keys.js');
        const { createCsr } = await import('../../src/pki/csr.js');
        const { toPem } = await import('../../src/crypto/pem.js');
        const key = generateKeyPair('ec-p256').privateKey;
        await httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(key, 'busy')), name: `busy${i}`, spiffeId: `spiffe://${TD}/busy${i}` }) });
      }
    })();
    const out = join(root, 'backup.db');
    const made = caJson<{ out: string; bytes: number; certificates: number; auditRows: number; schemaVersion: number }>(['backup', '--dir', dir, '--out', out]);
    await busy;
    expect(made).toMatchObject({ out, schemaVersion: 12 });
    expect(made.certificates).toBeGreaterThanOrEqual(5);
    expect((statSync(out).mode & 0o777).toString(8)).toBe('600');
    expectOneLineError(ca(['backup', '--dir', dir, '--out', out]), 'ERR_FILE_WRITE', 'already exists');
    // One self-contained file, nothing left beside it.
    expect(readdirSync(root).filter((f) => f.includes('backup'))).toEqual(['backup.db']);
    // Never into the CA directory: over the live database it would destroy what it copies.
    for (const target of [join(dir, 'ca.db'), join(dir, 'ca.db-wal'), join(dir, 'private', 'x.db')]) {
      expectOneLineError(ca(['backup', '--dir', dir, '--out', target, '--force']), 'ERR_USAGE', 'is inside the CA directory');
    }
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', dir]).ok).toBe(true);
    // CRLs published after the backup: the restored CA must not number its next ones below them.
    const crlNumber = (d: string, file: string) => BigInt(caJson<{ intermediate: { number: string } }>(['crl', '--dir', d, '--out', join(root, file)]).intermediate.number);
    const published = [crlNumber(dir, 'after-1.der'), crlNumber(dir, 'after-2.der')];
    expect(published[1]).toBeGreaterThan(published[0]!);
    await svc.stop();

    // The restore the README describes: the backup as ca.db beside the same config.json, root.pem and private/.
    const restored = copyReplica(dir, join(root, 'restored'));
    rmSync(join(restored, 'ca.db'));
    rmSync(join(restored, 'ca.db-wal'), { force: true });
    rmSync(join(restored, 'ca.db-shm'), { force: true });
    copyFileSync(out, join(restored, 'ca.db'));
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', restored]).ok).toBe(true);
    const listed = caJson<Listed[]>(['list', '--dir', restored, '--all']);
    expect(listed.length).toBe(made.certificates - 2); // the root and the intermediate are not leaves
    expect(listed.filter((c) => c.status === 'revoked').map((c) => c.spiffeId)).toEqual([`spiffe://${TD}/b`]);
    // A service started on the restored CA serves a CRL numbered above what was published after the backup (it does
    // not serve the one the backup holds), and so does the next ca crl.
    const again = await startCa(restored);
    const served = readCrl(Buffer.from(await (await fetch(`${again.httpUrl}/crl/intermediate.crl`)).arrayBuffer())).number!;
    await again.stop();
    expect(served, 'the CRL a restored CA serves first').toBeGreaterThan(published[1]!);
    expect(crlNumber(restored, 'restored.der'), 'CRL numbers go on growing past what was published after the backup').toBeGreaterThan(served);
    // Nothing can be written to a device, pipe or socket, and an empty path is a usage error.
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expectOneLineError(ca(['backup', '--dir', restored, '--out', fifo, '--force']), 'ERR_FILE_WRITE', 'is not a regular file');
    expect(statSync(fifo).isFIFO()).toBe(true);
    expectOneLineError(ca(['backup', '--dir', restored, '--out', '']), 'ERR_USAGE', 'needs a file name');
  });

  it('fail/a PostgreSQL CA is backed up with pg_dump, and says so', async () => {
    const root = tempDir();
    expect(ca(['init', '--dir', join(root, 'pg'), '--name', 'PG', '--trust-domain', TD, '--database', await freshDatabaseUrl()]).code).toBe(0);
    expectOneLineError(ca(['backup', '--dir', join(root, 'pg'), '--out', join(root, 'x.db')]), 'ERR_USAGE', 'pg_dump');
    expect(existsSync(join(root, 'x.db'))).toBe(false);
  });
});

describe('ca migrate', () => {
  it('ok/an up-to-date directory says so', () => {
    const root = tempDir();
    expect(ca(['init', '--dir', join(root, 'ca'), '--name', 'M', '--trust-domain', TD]).code).toBe(0);
    expect(caJson(['migrate', '--dir', join(root, 'ca')])).toMatchObject({ backend: 'sqlite', schemaVersion: 12, upgraded: null });
    expect(ca(['migrate', '--dir', join(root, 'ca')]).stdout).toContain('is up to date (schema 12)');
  });

  it('ok/--to moves a SQLite CA to PostgreSQL: same serials and revocations, the audit chain verified to the same head, CRL numbers going on, API keys working', async () => {
    const root = tempDir();
    const { dir, apiKey } = caWithHistory(root);
    const before = caJson<Listed[]>(['list', '--dir', dir, '--all']);
    const headBefore = caJson<{ head: string; rows: number }>(['audit', 'verify', '--dir', dir]);
    const crlBefore = caJson<{ intermediate: { number: string } }>(['crl', '--dir', dir, '--out', join(root, 'before.der')]).intermediate.number;
    const database = await freshDatabaseUrl();
    const moved = caJson<{ database: string; rows: Record<string, number>; auditHead: string; keptSqlite: string }>(['migrate', '--dir', dir, '--to', database]);
    expect(moved.auditHead).toBe(headBefore.head);
    expect(moved.rows.certificates).toBe(before.length + 2);
    expect(existsSync(join(dir, 'ca.db'))).toBe(false);
    expect(existsSync(moved.keptSqlite)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).database).toBe(database);

    expect(caJson<Listed[]>(['list', '--dir', dir, '--all'])).toEqual(before);
    const after = caJson<{ ok: boolean; rows: number; head: string }>(['audit', 'verify', '--dir', dir]);
    // The chain is the one from before, plus the row that records the move.
    expect([after.ok, after.rows]).toEqual([true, headBefore.rows + 1]);
    expect(BigInt(caJson<{ intermediate: { number: string } }>(['crl', '--dir', dir, '--out', join(root, 'after.der')]).intermediate.number)).toBeGreaterThan(BigInt(crlBefore));
    const svc = await startCa(dir);
    try {
      const r = await httpsRequest(`${svc.url}/v1/certificates`, { ca: readFileSync(join(dir, 'root.pem'), 'utf8'), headers: { authorization: `Bearer ${apiKey}` } });
      expect(r.status).toBe(200);
      expect(r.json().certificates).toHaveLength(before.length);
    } finally {
      await svc.stop();
    }
  });

  it('ok/--to carries renew-now rules: the same ids and windows, and new ones numbered after them', async () => {
    const root = tempDir();
    const { dir } = caWithHistory(root);
    type Rule = { id: number; selector: Record<string, unknown>; suggestedWindow: { start: string; end: string }; matching: number };
    const rules = [caJson<Rule>(['renew-now', '--dir', dir, '--all', '--within', '1h']), caJson<Rule>(['renew-now', '--dir', dir, '--identity', `spiffe://${TD}/a`, '--explanation-url', 'https://status.acme.internal/a'])];
    expect(rules.map((r) => [r.id, r.matching])).toEqual([[1, 2], [2, 1]]);
    const moved = caJson<{ rows: Record<string, number> }>(['migrate', '--dir', dir, '--to', await freshDatabaseUrl()]);
    expect(moved.rows.renewal_advice).toBe(2);
    const { openCaStore } = await import('../../src/store/open-store.js');
    const { auditSealKey } = await import('../../src/audit/audit-key.js');
    const { CaDirectory } = await import('../../src/store/ca-directory.js');
    const directory = CaDirectory.open(dir);
    const store = await openCaStore({ sqlitePath: '', databaseUrl: directory.config.database, sealKey: auditSealKey(directory.auditKey(() => false).key) });
    try {
      const copied = await store.renewalAdviceSince(0, 10);
      expect(copied.map((a) => ({ id: a.id, start: a.windowStart.toISOString(), end: a.windowEnd.toISOString(), url: a.explanationUrl }))).toEqual(
        rules.map((r, i) => ({ id: r.id, start: r.suggestedWindow.start, end: r.suggestedWindow.end, url: i === 1 ? 'https://status.acme.internal/a' : null })),
      );
    } finally {
      await store.close();
    }
    expect(caJson<Rule>(['renew-now', '--dir', dir, '--serial', caJson<Listed[]>(['list', '--dir', dir, '--status', 'valid'])[0]!.serial]).id).toBe(3);
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', dir]).ok).toBe(true);
  });

  it('fail/into a database that holds data, while ca serve runs, or twice: refused, and the directory is left as it was', async () => {
    const root = tempDir();
    const { dir } = caWithHistory(root);
    const config = readFileSync(join(dir, 'config.json'), 'utf8');
    const used = await freshDatabaseUrl();
    const other = join(root, 'other');
    expect(ca(['init', '--dir', other, '--name', 'Other', '--trust-domain', TD, '--database', used]).code).toBe(0);
    expect(ca(['issue', 'o', '--dir', other, '--dns', 'o.acme.internal', '--cert-out', join(root, 'o.pem'), '--key-out', join(root, 'o.key')]).code).toBe(0);
    expectOneLineError(ca(['migrate', '--dir', dir, '--to', used]), 'ERR_DATABASE_IN_USE', 'is not empty');
    // The CA already in that database is untouched by the refusal.
    expect(caJson<Listed[]>(['list', '--dir', other]).length).toBe(1);
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', other]).ok).toBe(true);
    const svc = await startCa(dir);
    expectOneLineError(ca(['migrate', '--dir', dir, '--to', await freshDatabaseUrl()]), 'ERR_CA_LOCKED', 'already running');
    await svc.stop();
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(config);
    expect(existsSync(join(dir, 'ca.db'))).toBe(true);
    expect(ca(['migrate', '--dir', dir, '--to', await freshDatabaseUrl()]).code).toBe(0);
    expectOneLineError(ca(['migrate', '--dir', dir, '--to', await freshDatabaseUrl()]), 'ERR_USAGE', 'already keeps its data in');
  });
});

describe('an empty database, and only that', () => {
  const sqlOn = async (url: string) => {
    const { default: postgres } = await import('postgres');
    return postgres(url, { max: 1, onnotice: () => {} });
  };

  it('fail/a table in another schema, a function (what a planted trigger needs) or a view: refused by ca migrate --to and ca init, and left in place', async () => {
    const root = tempDir();
    const { dir } = caWithHistory(root);
    const plants = [
      'CREATE SCHEMA other; CREATE TABLE other.accounts (id int)',
      'CREATE FUNCTION public.drop_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$',
      'CREATE VIEW public.v AS SELECT 1 AS one',
    ];
    for (const plant of plants) {
      const url = await freshDatabaseUrl();
      const sql = await sqlOn(url);
      await sql.unsafe(plant).simple();
      expectOneLineError(ca(['migrate', '--dir', dir, '--to', url]), 'ERR_DATABASE_IN_USE', 'is not empty');
      expectOneLineError(ca(['init', '--dir', join(root, 'fresh'), '--name', 'Fresh', '--trust-domain', TD, '--database', url]), 'ERR_DATABASE_IN_USE', 'is not empty');
      const [{ n }] = await sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relname IN ('certificates', 'schema_migrations')`;
      expect(n, plant).toBe(0);
      await sql.end();
    }
    expect(existsSync(join(root, 'fresh'))).toBe(false);
    expect(existsSync(join(dir, 'ca.db'))).toBe(true);
  });

  it('ok/two moves racing into one empty database: one CA gets it whole, the other is refused and keeps ca.db', async () => {
    const first = caWithHistory(tempDir()).dir;
    const second = caWithHistory(tempDir()).dir;
    const url = await freshDatabaseUrl();
    const results = await Promise.all([caAsync(['migrate', '--dir', first, '--to', url]), caAsync(['migrate', '--dir', second, '--to', url])]);
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    const [winner, loser] = results[0]!.code === 0 ? [first, second] : [second, first];
    expect(results.find((r) => r.code === 1)!.stderr).toMatch(/\[ERR_DATABASE_IN_USE\]$/m);
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', winner]).ok).toBe(true);
    expect(caJson<Listed[]>(['list', '--dir', winner]).length).toBe(3);
    expect(existsSync(join(loser, 'ca.db'))).toBe(true);
    expect(JSON.parse(readFileSync(join(loser, 'config.json'), 'utf8')).database).toBeUndefined();
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', loser]).ok).toBe(true);
  });

  it('fail/a database that answers but lost the CA\'s tables is not ready, and /readyz says so without naming it', async () => {
    const root = tempDir();
    const url = await freshDatabaseUrl();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Lost CA', '--trust-domain', TD, '--database', url]).code).toBe(0);
    const svc = await startCa(dir);
    try {
      expect((await fetch(`${svc.httpUrl}/readyz`)).status).toBe(200);
      const sql = await sqlOn(url);
      await sql`DROP TABLE audit_head`;
      await sql.end();
      const ready = await fetch(`${svc.httpUrl}/readyz`);
      const text = await ready.text();
      expect(ready.status).toBe(503);
      expect(JSON.parse(text).checks.database).toBe('failing (ERR_STORE_CORRUPT): see the service log');
      expect(text).not.toMatch(/postgres:|127\.0\.0\.1/);
    } finally {
      await svc.stop();
    }
  });

  it('fail/rows cut from the end of the audit log, or a trigger that swallows them, are found (PostgreSQL)', async () => {
    const root = tempDir();
    const url = await freshDatabaseUrl();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Cut CA', '--trust-domain', TD, '--database', url]).code).toBe(0);
    expect(ca(['issue', 'a', '--dir', dir, '--dns', 'a.acme.internal', '--cert-out', join(root, 'a.pem'), '--key-out', join(root, 'a.key')]).code).toBe(0);
    const sql = await sqlOn(url);
    await sql`DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)`;
    expectOneLineError(ca(['audit', 'verify', '--dir', dir]), 'ERR_AUDIT_TAMPERED', 'missing at the end of the log');
    await sql.unsafe('CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; CREATE TRIGGER swallow BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION swallow()').simple();
    expectOneLineError(ca(['list', '--dir', dir]), 'ERR_AUDIT_TAMPERED', 'trigger "swallow" on audit_log');
    await sql.end();
  });
});
