// Moving a CA directory's data from its SQLite file to PostgreSQL (`ca migrate --to`): copied whole, checked, then switched.

import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { auditSealKey } from '../audit/audit-key.js';
import type { Caller } from '../authority/issue.js';
import { parseDatabaseUrl, redactDatabaseUrl, storableDatabaseUrl } from '../config/ca-config.js';
import { CaError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { CA_FILES, CA_MODES, CaDirectory } from '../store/ca-directory.js';
import { copySqliteToPostgres, type CopiedRows } from '../store/copy-store.js';
import { LocalCa } from './local-ca.js';
import { acquireServeLock } from './lock.js';

/** What a move did. */
export interface MoveResult {
  readonly database: string;
  readonly rows: CopiedRows;
  /** The audit chain's head, the same before and after. */
  readonly auditHead: string;
  /** Where the SQLite file went (kept, renamed, so nothing reads it by mistake). */
  readonly keptSqlite: string;
  /** True when the URL's password was used but not written into config.json. */
  readonly passwordKeptOut: boolean;
}

/**
 * Moves the CA in `dir` from DIR/ca.db to the empty PostgreSQL database at `url`: with no `ca serve` running on the
 * directory (its lock is held throughout), the SQLite database is brought to the newest schema and its audit chain
 * checked, every row is copied in one transaction, the copy's chain is checked to end at the same head, and only
 * then does config.json name the database and ca.db become ca.db.moved-to-postgres. A failure at any step before
 * the switch leaves the directory as it was.
 */
export async function moveToPostgres(dir: string, url: string, caller: Caller, progress: (table: string, rows: number) => void = () => {}): Promise<MoveResult> {
  const directory = CaDirectory.open(dir);
  if (directory.config.database !== undefined) throw new CaError('ERR_USAGE', `store: ${dir} already keeps its data in ${redactDatabaseUrl(directory.config.database)}`);
  parseDatabaseUrl(url);
  const lock = acquireServeLock(join(directory.dir, CA_FILES.serveLock), dir);
  try {
    // MESHCA_DATABASE_URL names the target here (the CLI checked it), not this SQLite CA's store.
    const ca = await LocalCa.open(dir, { env: {} });
    let head: string;
    try {
      const verdict = await ca.store.verifyAuditChain();
      if (!verdict.ok) throw new CaError('ERR_AUDIT_TAMPERED', `store: the audit log of ${dir} does not verify (${verdict.message}); it is not moved`);
      head = verdict.head;
    } finally {
      await ca.close();
    }
    const sealKey = auditSealKey(directory.auditKey(() => false).key);
    // One transaction makes the schema, copies, verifies and audits: a failure leaves the database as it was.
    const copied = await copySqliteToPostgres(directory.databasePath, url, {
      sealKey,
      progress,
      moved: (rows) => ({ at: new Date(), actor: caller.actor, action: 'store-move', target: null, outcome: 'ok', detail: { from: CA_FILES.database, to: redactDatabaseUrl(url), rows } }),
    });
    const rows: CopiedRows = copied.rows;
    head = copied.auditHead;
    const raw = JSON.parse(readFileSync(join(directory.dir, CA_FILES.config), 'utf8')) as Record<string, unknown>;
    const stored = storableDatabaseUrl(url);
    writeFileAtomic(join(directory.dir, CA_FILES.config), `${JSON.stringify({ ...raw, database: stored.url }, null, 2)}\n`, CA_MODES.file);
    const keptSqlite = `${directory.databasePath}.moved-to-postgres`;
    renameSync(directory.databasePath, keptSqlite);
    for (const suffix of ['-wal', '-shm']) if (existsSync(`${directory.databasePath}${suffix}`)) renameSync(`${directory.databasePath}${suffix}`, `${keptSqlite}${suffix}`);
    return { database: redactDatabaseUrl(url), rows, auditHead: head, keptSqlite, passwordKeptOut: stored.hadPassword };
  } finally {
    lock.release();
  }
}
