// Copying a CA's SQLite database into an empty PostgreSQL one, row for row: serials, revocations, audit chain and CRL numbers as they were.

import Database from 'better-sqlite3';
import postgres from 'postgres';
import { redactDatabaseUrl } from '../config/ca-config.js';
import type { AuditEvent } from '../authority/ports.js';
import { CaError } from '../errors.js';
import { appendAuditIn, createPostgresSchema, postgresError, verifyAuditChainIn } from './postgres-store.js';

/** Every table of the CA's data, in an order that never copies a row before what it refers to. */
const TABLES = ['certificates', 'crl_numbers', 'audit_log', 'api_keys', 'used_tokens', 'revocation_log', 'blocked_keys', 'crls', 'fingerprints', 'renewal_advice', 'acme_eab_keys', 'acme_accounts', 'acme_orders', 'acme_authorizations', 'acme_challenges'] as const;

/** Rows copied per statement (PostgreSQL takes at most 65,534 parameters; a certificate row, the widest, has 15). */
const BATCH = 2000;

/** What was copied: rows per table. */
export type CopiedRows = Record<(typeof TABLES)[number], number>;

/** What the copy needs besides the two databases. */
export interface CopyOptions {
  /** The audit key's seal key: the copy's chain is verified with it before anything is committed. */
  readonly sealKey: Buffer;
  /** The audit row that records the move, appended in the same transaction. */
  readonly moved: (rows: CopiedRows) => AuditEvent;
  /** Hears each table's count as it finishes. */
  readonly progress?: (table: string, rows: number) => void;
}

/**
 * Copies every row of the SQLite database at `sqlitePath` into the empty PostgreSQL database at `url`, in one
 * transaction that also makes the schema, checks that the copy's audit chain verifies and ends at SQLite's head, and
 * records the move: all of it or nothing, whatever fails or whoever races (a database that is not empty is refused
 * before anything is written, and nothing of this copy stays in it after a failure). The audit rows keep their ids
 * and seals; the audit id counter and the revocation sequence continue where SQLite's stopped.
 */
export async function copySqliteToPostgres(sqlitePath: string, url: string, options: CopyOptions): Promise<{ rows: CopiedRows; auditHead: string }> {
  const progress = options.progress ?? (() => {});
  const location = redactDatabaseUrl(url);
  const db = new Database(sqlitePath, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5, types: { int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } } });
  try {
    // Held for the whole copy: no other process writes the SQLite database meanwhile (they wait, or say it is busy),
    // so what is copied is one moment of it.
    db.exec('BEGIN IMMEDIATE');
    const last = db.prepare<[], { hash: Buffer | null }>('SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1').get();
    const head = last?.hash ? Buffer.from(last.hash).toString('hex') : '';
    const copied = {} as CopiedRows;
    await sql.begin(async (tx) => {
      await createPostgresSchema(tx, location);
      for (const table of TABLES) {
        let count = 0;
        const read = db.prepare<[number, number], Record<string, unknown> & { _rowid: number }>(`SELECT rowid AS _rowid, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`);
        for (let after = 0; ; ) {
          const rows = read.all(after, BATCH);
          if (rows.length === 0) break;
          after = rows[rows.length - 1]!._rowid;
          const values = rows.map(({ _rowid, ...row }) => row);
          await tx`INSERT INTO ${tx(table)} ${tx(values)}`;
          count += rows.length;
        }
        copied[table] = count;
        progress(table, count);
      }
      const sequence = (name: string): number | undefined => (db.prepare<[string], { seq: number }>('SELECT seq FROM sqlite_sequence WHERE name = ?').get(name)?.seq);
      await tx`UPDATE audit_head SET last_id = ${sequence('audit_log') ?? 0}`;
      const revocations = sequence('revocation_log') ?? 0;
      if (revocations > 0) await tx`SELECT setval(pg_get_serial_sequence('revocation_log', 'seq'), ${revocations})`;
      const advice = sequence('renewal_advice') ?? 0;
      if (advice > 0) await tx`SELECT setval(pg_get_serial_sequence('renewal_advice', 'id'), ${advice})`;
      const verdict = await verifyAuditChainIn(tx, options.sealKey);
      if (!verdict.ok || verdict.head !== head) {
        throw new CaError('ERR_STORE_CORRUPT', `store: the copy in ${location} does not end at the audit head of ${sqlitePath} (${verdict.ok ? verdict.head : verdict.message}); nothing was moved`);
      }
      await appendAuditIn(tx, options.sealKey, [options.moved(copied)]);
    });
    return { rows: copied, auditHead: head };
  } catch (e) {
    throw postgresError(e, location);
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
    await sql.end({ timeout: 2 });
  }
}
