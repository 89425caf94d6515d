// The CA's store on PostgreSQL, shared by replicas: every write under one advisory lock, changes announced by NOTIFY.

import { readdirSync, readFileSync } from 'node:fs';
import postgres, { type ReservedSql, type Sql, type TransactionSql } from 'postgres';
import type { ApiKeyRecord } from '../auth/ports.js';
import type { AuditEvent, AuditRecord, BulkRevocationOutcome, CertificateQuery, CertificateRecord, CrlScope, IssuedEntry, IssuedOutcome, Renewal, RevocationEvent, RevocationOutcome, RevokedCertificate, SpentToken, StoredCrl } from '../authority/ports.js';
import { redactDatabaseUrl } from '../config/ca-config.js';
import { CaError } from '../errors.js';
import type { RenewalAdvice } from '../authority/renewal-advice.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeOrderRecord, EabKeyRecord } from '../acme/ports.js';
import type { RevocationReason } from '../revocation/reasons.js';
import { chainReachesCounter, GENESIS, sealRow, verifyChain, type ChainedRow, type ChainVerdict } from './audit-chain.js';
import { replayAudit, rotationConflict, type CaStore, type ChangeListener } from './ca-store.js';
import { CRL_PAGE, certificateFilter, certificateOrder, chunked } from './queries.js';
import { adviceAudit, auditContent, toAdvice, toAdviceRow, type AdviceRow, fromSeconds, newApiKeyRow, revokedApiKeyRow, toApiKey, toAuditRecord, toRecord, toRow, toSeconds, toStoredCrl, type ApiKeyRow, type AuditRow, type CertificateRow, type CrlRow, eabNameTaken, toEabKey, type EabKeyRow, acmeKeyInUse, acmeKeyChanged, acmeTooManyOrders, toAcmeAccount, type AcmeAccountRow, toAcmeOrder, toAcmeAuthorization, toAcmeChallenge, type AcmeOrderRow, type AcmeAuthorizationRow, type AcmeChallengeRow } from './rows.js';

const MIGRATIONS_DIR = new URL('./migrations/postgres/', import.meta.url);

/** Advisory lock keys: every write transaction takes WRITE_LOCK (so writes commit one at a time, as SQLite's do). */
const WRITE_LOCK = 0x6d657368;
const MIGRATION_LOCK = 0x6d696772;
/** The NOTIFY channel: payload `revocation`, `crl`, `hierarchy` or `advice`. */
const CHANNEL = 'meshca_changes';
/** Seconds a query may wait for a connection and run (the client's own limit, behind the deadline below). */
const QUERY_TIMEOUT_SECONDS = 5;
const CONNECT_TIMEOUT_SECONDS = 3;
/** How long one store operation may take, whatever the database does (a hung server answers nothing at all). */
const OPERATION_DEADLINE_MS = 4_000;
/** A CRL's entries are read page by page in one transaction: long for a large CRL, never forever. */
const SNAPSHOT_DEADLINE_MS = 60_000;
/**
 * After an operation found the database out of reach, operations fail at once for this long instead of each
 * waiting out its own timeout: during an outage a request is answered in milliseconds, and the database is tried
 * again a moment later.
 */
const UNREACHABLE_HOLD_MS = 1_000;

/** Client errors that mean the server is out of reach (or went away), not that the request was wrong. */
const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'QUEUE_TIMEOUT', 'QUERY_TIMEOUT', 'CANCEL_UNANSWERED', 'TLS_HANDSHAKE_FAILED',
]);

/** Translates a PostgreSQL or connection failure into a CA error; `location` never carries the password. */
export function postgresError(e: unknown, location: string): CaError {
  if (e instanceof CaError) return e;
  const code = String((e as { code?: unknown }).code ?? '');
  const message = (e as Error).message ?? String(e);
  // SQLSTATE 08 connection exceptions, 57P0x shutdowns, 53 out of resources, 57014 canceled (a timeout), 55P03 lock wait.
  if (UNREACHABLE.has(code) || code.startsWith('08') || code.startsWith('57P0') || code.startsWith('53') || code === '57014' || code === '55P03') {
    return new CaError('ERR_DATABASE_UNAVAILABLE', `store: the database ${location} is unavailable (${code}); retry shortly`, { cause: e });
  }
  if (code === '40001' || code === '40P01') return new CaError('ERR_STORE_BUSY', `store: the database ${location} was busy (${code}); try again`, { cause: e });
  if (code === '3D000') return new CaError('ERR_STORE_MISSING', `store: the database ${location} does not exist (create it, then run ca init --database)`, { cause: e });
  if (code === '28P01' || code === '28000') return new CaError('ERR_DATABASE_UNAVAILABLE', `store: the database ${location} refused the login (${code}): check the user and password (in the URL, MESHCA_DATABASE_URL, or PGPASSWORD)`, { cause: e });
  if (code === 'SSL_NOT_SUPPORTED') return new CaError('ERR_DATABASE_UNAVAILABLE', `store: the database ${location} does not accept TLS, which the URL asks for (sslmode): turn TLS on at the server, or change sslmode`, { cause: e });
  if (code === '42P01') return new CaError('ERR_STORE_CORRUPT', `store: ${location} is not a meshca database (a table is missing)`, { cause: e });
  return new CaError('ERR_STORE_CORRUPT', `store: ${location} failed: ${message.slice(0, 200)}`, { cause: e });
}

/** Thrown inside a savepoint to roll it back when a serial collides. */
class SerialTaken extends Error {}

const hex = (b: Buffer): string => b.toString('hex');
const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/**
 * Seals the audit rows of one write transaction: ids follow the counter in `audit_head`, each row links to the one
 * before (which the transaction's lock keeps from moving), and all of them are written at the end in one statement.
 */
class AuditBatch {
  private readonly rows: (AuditRow & { prev_hash: Buffer; hash: Buffer })[] = [];

  private constructor(
    private lastId: number,
    private prev: Buffer,
    private readonly sealKey: Buffer,
  ) {}

  static async start(tx: TransactionSql, sealKey: Buffer): Promise<AuditBatch> {
    const [head] = await tx<{ last_id: number; hash: Buffer | null }[]>`SELECT (SELECT last_id FROM audit_head) AS last_id, (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS hash`;
    return new AuditBatch(Number(head!.last_id), head!.hash ?? GENESIS, sealKey);
  }

  append(event: AuditEvent): void {
    const row = { id: this.lastId + 1, ...auditContent(event) };
    const hash = sealRow(this.sealKey, this.prev, row);
    this.rows.push({ ...row, prev_hash: this.prev, hash });
    this.lastId = row.id;
    this.prev = hash;
  }

  /** Where the batch stands, to undo what a rolled-back savepoint appended. */
  mark(): { count: number; lastId: number; prev: Buffer } {
    return { count: this.rows.length, lastId: this.lastId, prev: this.prev };
  }

  reset(mark: { count: number; lastId: number; prev: Buffer }): void {
    this.rows.length = mark.count;
    this.lastId = mark.lastId;
    this.prev = mark.prev;
  }

  async write(tx: TransactionSql): Promise<void> {
    if (this.rows.length === 0) return;
    const r = this.rows;
    await tx`INSERT INTO audit_log (id, at, actor, action, target, outcome, detail, prev_hash, hash)
      SELECT id, at, actor, action, target, outcome, detail, decode(prev_hash, 'hex'), decode(hash, 'hex')
      FROM unnest(${r.map((x) => x.id)}::int8[], ${r.map((x) => x.at)}::int8[], ${r.map((x) => x.actor)}::text[], ${r.map((x) => x.action)}::text[],
                  ${r.map((x) => x.target)}::text[], ${r.map((x) => x.outcome)}::text[], ${r.map((x) => x.detail)}::text[],
                  ${r.map((x) => hex(x.prev_hash))}::text[], ${r.map((x) => hex(x.hash))}::text[])
        AS u(id, at, actor, action, target, outcome, detail, prev_hash, hash)`;
    await tx`UPDATE audit_head SET last_id = ${this.lastId}`;
  }
}

/**
 * Walks the audit chain as `sql` (a transaction, or the pool) sees it, page by page, and checks that it reaches the
 * id counter: rows deleted from the end leave the counter ahead of the last row.
 */
export async function verifyAuditChainIn(sql: Sql | TransactionSql, sealKey: Buffer): Promise<ChainVerdict> {
  async function* rows(): AsyncGenerator<ChainedRow> {
    for (let after = 0; ; ) {
      const page = await sql<ChainedRow[]>`SELECT id, at, actor, action, target, outcome, detail, prev_hash, hash FROM audit_log WHERE id > ${after} ORDER BY id LIMIT 10000`;
      for (const r of page) yield { ...r, id: Number(r.id), at: Number(r.at) };
      if (page.length < 10_000) return;
      after = Number(page[page.length - 1]!.id);
    }
  }
  const verdict = await verifyChain(rows(), sealKey);
  if (!verdict.ok) return verdict;
  const [head] = await sql<{ last_id: number }[]>`SELECT last_id FROM audit_head`;
  return chainReachesCounter(verdict, Number(head?.last_id ?? 0));
}

/** Appends `events` to the audit chain inside the caller's transaction (which holds the write lock, or is alone). */
export async function appendAuditIn(tx: TransactionSql, sealKey: Buffer, events: readonly AuditEvent[]): Promise<void> {
  const batch = await AuditBatch.start(tx, sealKey);
  for (const event of events) batch.append(event);
  await batch.write(tx);
}

/** Stores `crl` unless a CRL of its issuer with a higher number is stored. */
async function upsertCrl(tx: TransactionSql, crl: StoredCrl): Promise<void> {
  await tx`INSERT INTO crls (issuer_key_id, level, number, der, this_update, next_update, revocation_seq)
    VALUES (${crl.issuerKeyId}, ${crl.level}, ${Number(crl.number)}, decode(${hex(crl.der)}, 'hex'), ${toSeconds(crl.thisUpdate)}, ${toSeconds(crl.nextUpdate)}, ${crl.revocationSeq})
    ON CONFLICT (issuer_key_id) DO UPDATE SET number = excluded.number, der = excluded.der, this_update = excluded.this_update, next_update = excluded.next_update, revocation_seq = excluded.revocation_seq
    WHERE excluded.number > crls.number`;
}

/** Inserts certificate rows in one statement; returns the serials it stored (a taken serial is skipped). */
async function insertCertificates(tx: TransactionSql, records: readonly CertificateRecord[]): Promise<Set<string>> {
  const rows = records.map(toRow);
  const col = <K extends keyof CertificateRow>(k: K) => rows.map((r) => r[k]);
  const stored = await tx<{ serial: string }[]>`INSERT INTO certificates (serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason, subject_key_hash, renewed_from, issued_at, requested_by)
    SELECT serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, decode(der, 'hex'), revoked_at, revocation_reason, subject_key_hash, renewed_from, issued_at, requested_by
    FROM unnest(${col('serial')}::text[], ${col('kind')}::text[], ${col('issuer_key_id')}::text[], ${col('common_name')}::text[], ${col('spiffe_id')}::text[],
                ${col('dns_names')}::text[], ${col('ip_addresses')}::text[], ${col('not_before')}::int8[], ${col('not_after')}::int8[], ${rows.map((r) => hex(r.der))}::text[],
                ${col('revoked_at')}::int8[], ${col('revocation_reason')}::text[], ${col('subject_key_hash')}::text[], ${col('renewed_from')}::text[], ${col('issued_at')}::int8[], ${col('requested_by')}::text[])
      AS u(serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason, subject_key_hash, renewed_from, issued_at, requested_by)
    ON CONFLICT (serial) DO NOTHING RETURNING serial`;
  return new Set(stored.map((r) => r.serial));
}

/** The CA's storage on PostgreSQL: the same data and rules as the SQLite store, for any number of replicas at once. */
export class PostgresCertificateStore implements CaStore {
  readonly backend = 'postgres' as const;
  upgraded: { from: number; to: number } | undefined;
  schemaVersion = 0;
  private readonly listeners = new Set<ChangeListener>();
  private listening: Promise<void> | undefined;

  constructor(
    private readonly sql: Sql,
    readonly location: string,
    private readonly sealKey: Buffer,
  ) {}

  /** Until when the database counts as out of reach (see UNREACHABLE_HOLD_MS). */
  private unreachableUntil = 0;

  /**
   * Runs one store operation with a deadline, translating failures. When the database has just been found out of
   * reach, fails at once. A write that misses its deadline may still commit later: a 503 means the outcome is unknown.
   */
  private async bounded<T>(work: () => Promise<T>, deadlineMs = OPERATION_DEADLINE_MS): Promise<T> {
    if (Date.now() < this.unreachableUntil) throw new CaError('ERR_DATABASE_UNAVAILABLE', `store: the database ${this.location} is unavailable; retry shortly`);
    let timer: NodeJS.Timeout | undefined;
    const running = work();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CaError('ERR_DATABASE_UNAVAILABLE', `store: the database ${this.location} did not answer within ${deadlineMs / 1000} s; retry shortly`)), deadlineMs);
    });
    try {
      return await Promise.race([running, late]);
    } catch (e) {
      const error = postgresError(e, this.location);
      if (error.code === 'ERR_DATABASE_UNAVAILABLE') this.unreachableUntil = Date.now() + UNREACHABLE_HOLD_MS;
      throw error;
    } finally {
      clearTimeout(timer);
      running.catch(() => undefined);
    }
  }

  private read<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.bounded(() => fn(this.sql));
  }

  /** A write transaction, serialized with every other writer of the database (all replicas, every `ca` command). */
  private write<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    return this.bounded(
      async () =>
        (await this.sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;
          return fn(tx);
        })) as T,
    );
  }

  /** A write that appends audit rows: they are sealed in order and written before the commit. */
  private audited<T>(fn: (tx: TransactionSql, audit: AuditBatch) => Promise<T>): Promise<T> {
    return this.write(async (tx) => {
      const audit = await AuditBatch.start(tx, this.sealKey);
      const result = await fn(tx, audit);
      await audit.write(tx);
      return result;
    });
  }

  /** Reads a meshca table, so a database that answers but lost the CA's tables is not taken for a working one. */
  async ping(): Promise<void> {
    await this.read((sql) => sql`SELECT last_id FROM audit_head`);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    this.listening ??= this.listen();
    return () => this.listeners.delete(listener);
  }

  /** LISTEN on a connection of its own, retried until it works (the database may be down when the service starts). */
  private async listen(): Promise<void> {
    for (;;) {
      try {
        await this.sql.listen(CHANNEL, (payload) => {
          const what = payload === 'hierarchy' || payload === 'crl' || payload === 'advice' ? payload : 'revocation';
          for (const l of this.listeners) l(what);
        });
        return;
      } catch {
        if (this.listeners.size === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 2000).unref());
      }
    }
  }

  async recordIssued(record: CertificateRecord, audit: AuditEvent, spendToken?: SpentToken): Promise<IssuedOutcome> {
    return (await this.recordIssuedBatch([{ record, audit, spendToken }]))[0]!;
  }

  /**
   * One transaction for many issuances. The common case (a first issuance, or a first renewal) is written with one
   * statement per table for the whole batch; an entry whose predecessor was already renewed (a retry, or a
   * thief's repeat) runs alone in a savepoint, with the same rules as the SQLite store.
   */
  async recordIssuedBatch(entries: readonly IssuedEntry[]): Promise<IssuedOutcome[]> {
    if (entries.length === 0) return [];
    return this.audited(async (tx, audit) => {
      const outcomes: IssuedOutcome[] = new Array<IssuedOutcome>(entries.length);
      const keyHashes = unique(entries.map((e) => e.record.subjectKeyHash));
      const predecessors = unique(entries.flatMap((e) => (e.record.renewedFrom === null ? [] : [e.record.renewedFrom])));
      const [blockedRows, firstRows] = await Promise.all([
        tx<{ subject_key_hash: string }[]>`SELECT subject_key_hash FROM blocked_keys WHERE subject_key_hash = ANY(${keyHashes}::text[])`,
        predecessors.length === 0 ? Promise.resolve([]) : tx<{ renewed_from: string; first: number }[]>`SELECT renewed_from, MIN(issued_at) AS first FROM certificates WHERE renewed_from = ANY(${predecessors}::text[]) GROUP BY renewed_from`,
      ]);
      const blocked = new Set(blockedRows.map((r) => r.subject_key_hash));
      const firstRenewal = new Map(firstRows.map((r) => [r.renewed_from, Number(r.first)]));
      const bulk: number[] = [];
      const alone: number[] = [];
      const seenPredecessors = new Set<string>();
      const seenTokens = new Set<string>();
      entries.forEach((entry, i) => {
        const { record, spendToken, renewalGraceSeconds } = entry;
        if (blocked.has(record.subjectKeyHash)) return void (outcomes[i] = 'key-blocked');
        if (record.renewedFrom !== null) {
          const first = firstRenewal.get(record.renewedFrom);
          if (first !== undefined && toSeconds(record.issuedAt) - first > (renewalGraceSeconds ?? 0)) return void (outcomes[i] = 'renewal-forked');
          const repeat = first !== undefined || seenPredecessors.has(record.renewedFrom);
          seenPredecessors.add(record.renewedFrom);
          if (repeat) return void alone.push(i);
        }
        if (spendToken) {
          if (seenTokens.has(spendToken.jti)) return void (outcomes[i] = 'token-spent');
          seenTokens.add(spendToken.jti);
        }
        bulk.push(i);
      });

      // Tokens first: an entry whose token is spent stores nothing. A taken serial then gives its token back.
      const withToken = bulk.filter((i) => entries[i]!.spendToken !== undefined);
      if (withToken.length > 0) {
        const e = withToken.map((i) => entries[i]!);
        const spent = await tx<{ jti: string }[]>`INSERT INTO used_tokens (jti, used_at, expires_at, serial)
          SELECT * FROM unnest(${e.map((x) => x.spendToken!.jti)}::text[], ${e.map((x) => toSeconds(x.audit.at))}::int8[], ${e.map((x) => toSeconds(x.spendToken!.expiresAt))}::int8[], ${e.map((x) => x.record.serial)}::text[])
          ON CONFLICT (jti) DO NOTHING RETURNING jti`;
        const mine = new Set(spent.map((r) => r.jti));
        for (const i of withToken) if (!mine.has(entries[i]!.spendToken!.jti)) outcomes[i] = 'token-spent';
      }
      const toInsert = bulk.filter((i) => outcomes[i] === undefined);
      if (toInsert.length > 0) {
        const stored = await insertCertificates(tx, toInsert.map((i) => entries[i]!.record));
        const givenBack: string[] = [];
        for (const i of toInsert) {
          const entry = entries[i]!;
          if (stored.has(entry.record.serial)) {
            outcomes[i] = 'recorded';
            audit.append(entry.audit);
          } else {
            outcomes[i] = 'serial-taken';
            if (entry.spendToken) givenBack.push(entry.spendToken.jti);
          }
        }
        if (givenBack.length > 0) await tx`DELETE FROM used_tokens WHERE jti = ANY(${givenBack}::text[])`;
      }
      let revoked = false;
      for (const i of alone) {
        const mark = audit.mark();
        try {
          const r = await tx.savepoint((sp) => this.recordRepeat(sp, audit, entries[i]!));
          outcomes[i] = r.outcome;
          revoked ||= r.revoked;
        } catch (e) {
          audit.reset(mark);
          if (!(e instanceof SerialTaken)) throw e;
          outcomes[i] = 'serial-taken';
        }
      }
      if (revoked) await tx`SELECT pg_notify(${CHANNEL}, 'revocation')`;
      return outcomes;
    });
  }

  /**
   * A renewal of a leaf that was already renewed: within the grace, successors for another key (a rekey repeat, or
   * a thief's rekey) are revoked as superseded with everything renewed from them since; successors for the same key
   * stay valid (a retry that raced the first). The same rules as the SQLite store, in one savepoint.
   */
  private async recordRepeat(tx: TransactionSql, audit: AuditBatch, entry: IssuedEntry): Promise<{ outcome: Exclude<IssuedOutcome, 'serial-taken'>; revoked: boolean }> {
    const { record, renewalGraceSeconds } = entry;
    const predecessor = record.renewedFrom!;
    const [first] = await tx<{ first: number | null }[]>`SELECT MIN(issued_at) AS first FROM certificates WHERE renewed_from = ${predecessor}`;
    if (first?.first !== null && first?.first !== undefined && toSeconds(record.issuedAt) - Number(first.first) > (renewalGraceSeconds ?? 0)) return { outcome: 'renewal-forked', revoked: false };
    // A renewal for the same key that raced an earlier one gets that one's successor (see the SQLite store).
    const [twin] = await tx<CertificateRow[]>`SELECT * FROM certificates WHERE renewed_from = ${predecessor} AND subject_key_hash = ${record.subjectKeyHash} AND revoked_at IS NULL AND not_after > ${toSeconds(record.issuedAt)} ORDER BY issued_at, serial LIMIT 1`;
    if (twin) {
      audit.append(replayAudit(entry.audit, predecessor, twin.serial));
      return { outcome: { replayed: toRecord(twin) }, revoked: false };
    }
    const superseded = (
      await tx<{ serial: string }[]>`WITH RECURSIVE replaced(serial) AS (
          SELECT serial FROM certificates WHERE renewed_from = ${predecessor} AND subject_key_hash IS DISTINCT FROM ${record.subjectKeyHash}
          UNION SELECT c.serial FROM certificates c JOIN replaced r ON c.renewed_from = r.serial
        )
        SELECT serial FROM certificates WHERE serial IN (SELECT serial FROM replaced) AND revoked_at IS NULL AND not_after > ${toSeconds(record.issuedAt)} ORDER BY serial`
    ).map((r) => r.serial);
    if ((await insertCertificates(tx, [record])).size === 0) throw new SerialTaken();
    const at = toSeconds(record.issuedAt);
    for (const earlier of superseded) {
      await this.markRevoked(tx, earlier, at, 'superseded');
      audit.append({ at: entry.audit.at, actor: entry.audit.actor, action: 'revoke', target: earlier, outcome: 'ok', detail: { reason: 'superseded', supersededBy: record.serial, lineage: 'repeat' } });
    }
    audit.append(superseded.length === 0 ? entry.audit : { ...entry.audit, detail: { ...entry.audit.detail, lineage: 'repeat', supersedes: superseded } });
    return { outcome: 'recorded', revoked: superseded.length > 0 };
  }

  private async markRevoked(tx: TransactionSql, serial: string, at: number, reason: RevocationReason): Promise<void> {
    await tx`UPDATE certificates SET revoked_at = ${at}, revocation_reason = ${reason} WHERE serial = ${serial} AND revoked_at IS NULL`;
    await tx`INSERT INTO revocation_log (serial, revoked_at) VALUES (${serial}, ${at})`;
  }

  async findBySerial(serial: string): Promise<CertificateRecord | undefined> {
    const [row] = await this.read((sql) => sql<CertificateRow[]>`SELECT * FROM certificates WHERE serial = ${serial}`);
    return row ? toRecord(row) : undefined;
  }

  async list(query: CertificateQuery): Promise<CertificateRecord[]> {
    const { where, params } = certificateFilter(query, (n) => `$${n}`);
    const text = `SELECT * FROM certificates ${where} ${certificateOrder(query)}${query.limit ? ` LIMIT ${Math.floor(query.limit)}` : ''}`;
    return (await this.read((sql) => sql.unsafe<CertificateRow[]>(text, params))).map(toRecord);
  }

  async count(query: CertificateQuery): Promise<number> {
    const { where, params } = certificateFilter(query, (n) => `$${n}`);
    const [row] = await this.read((sql) => sql.unsafe<{ n: number }[]>(`SELECT COUNT(*) AS n FROM certificates ${where}`, params));
    return Number(row?.n ?? 0);
  }

  async recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent, options: { readonly blockKey?: boolean } = {}): Promise<RevocationOutcome> {
    return this.audited(async (tx, log): Promise<RevocationOutcome> => {
      const [row] = await tx<CertificateRow[]>`SELECT * FROM certificates WHERE serial = ${serial}`;
      if (!row) return { result: 'not-found' };
      const at = toSeconds(revokedAt);
      const already = row.revoked_at !== null;
      if (already) log.append({ ...audit, outcome: 'noop', detail: { ...audit.detail, already: 'revoked' } });
      else {
        await this.markRevoked(tx, serial, at, reason);
        log.append(audit);
      }
      const alsoRevoked: string[] = [];
      let keyBlocked = false;
      if (options.blockKey) {
        keyBlocked = true;
        const inserted = await tx`INSERT INTO blocked_keys (subject_key_hash, blocked_at, serial) VALUES (${row.subject_key_hash}, ${at}, ${serial}) ON CONFLICT DO NOTHING RETURNING 1`;
        if (inserted.length > 0) log.append({ at: audit.at, actor: audit.actor, action: 'key-block', target: serial, outcome: 'ok', detail: { subjectKeyHash: row.subject_key_hash } });
        // Tainted: every leaf with the key, and every leaf renewed (transitively) from one of them.
        const tainted = await tx<{ serial: string; subject_key_hash: string }[]>`WITH RECURSIVE tainted(serial) AS (
            SELECT serial FROM certificates WHERE subject_key_hash = ${row.subject_key_hash} AND kind = 'leaf'
            UNION SELECT c.serial FROM certificates c JOIN tainted t ON c.renewed_from = t.serial
          )
          SELECT serial, subject_key_hash FROM certificates WHERE serial IN (SELECT serial FROM tainted) AND revoked_at IS NULL AND not_after > ${at} ORDER BY serial`;
        for (const sibling of tainted) {
          await this.markRevoked(tx, sibling.serial, at, 'keyCompromise');
          const why = sibling.subject_key_hash === row.subject_key_hash ? { sameKeyAs: serial } : { renewedWithKeyOf: serial };
          log.append({ at: audit.at, actor: audit.actor, action: 'revoke', target: sibling.serial, outcome: 'ok', detail: { reason: 'keyCompromise', ...why } });
          alsoRevoked.push(sibling.serial);
        }
      }
      if (!already || alsoRevoked.length > 0) await tx`SELECT pg_notify(${CHANNEL}, 'revocation')`;
      const record = toRecord(already ? row : { ...row, revoked_at: at, revocation_reason: reason });
      return { result: already ? 'already-revoked' : 'revoked', record, alsoRevoked, keyBlocked };
    });
  }

  async isKeyBlocked(subjectKeyHash: string): Promise<boolean> {
    return (await this.read((sql) => sql`SELECT 1 FROM blocked_keys WHERE subject_key_hash = ${subjectKeyHash}`)).length > 0;
  }

  async renewalsOf(serial: string): Promise<Renewal[]> {
    const rows = await this.read((sql) => sql<{ serial: string; issued_at: number }[]>`SELECT serial, issued_at FROM certificates WHERE renewed_from = ${serial} ORDER BY issued_at, serial`);
    return rows.map((r) => ({ serial: r.serial, issuedAt: fromSeconds(Number(r.issued_at)) }));
  }

  /**
   * The number and the entries in one transaction: the number's row stays locked until it ends, so a replica taking
   * the next number reads after this one has read, and a higher number never lists less.
   */
  async crlSnapshot(issuerKeyId: string, scope: CrlScope, onPage: (page: readonly RevokedCertificate[]) => void | Promise<void>): Promise<{ number: bigint; revocationSeq: number }> {
    const since = toSeconds(scope.notAfterSince);
    const atLeast = scope.numberAtLeast.toString();
    return this.bounded(async () =>
      (await this.sql.begin(async (tx) => {
        const [n] = await tx<{ last_number: string }[]>`INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (${issuerKeyId}, GREATEST(1, ${atLeast}::bigint))
          ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = GREATEST(crl_numbers.last_number + 1, ${atLeast}::bigint) RETURNING last_number::text`;
        const [seq] = await tx<{ seq: number | null }[]>`SELECT MAX(seq) AS seq FROM revocation_log`;
        for (let after = ''; ; ) {
          const rows = (await tx`SELECT serial, revoked_at, revocation_reason FROM certificates
            WHERE issuer_key_id = ${issuerKeyId} AND revoked_at IS NOT NULL AND not_after > ${since} AND serial > ${after} ORDER BY serial LIMIT ${CRL_PAGE}`.values()) as unknown as [string, number, RevocationReason][];
          if (rows.length === 0) break;
          await onPage(rows.map(([serial, revokedAt, reason]) => ({ serial, revokedAt: fromSeconds(Number(revokedAt)), reason })));
          after = rows[rows.length - 1]![0];
          if (rows.length < CRL_PAGE) break;
        }
        return { number: BigInt(n!.last_number), revocationSeq: Number(seq?.seq ?? 0) };
      })) as { number: bigint; revocationSeq: number },
    SNAPSHOT_DEADLINE_MS);
  }

  async revocationsSince(sinceSeq: number): Promise<{ seq: number; serials: string[] | null }> {
    return this.read(async (sql) => {
      const [top] = await sql<{ seq: number | null }[]>`SELECT MAX(seq) AS seq FROM revocation_log`;
      const seq = Number(top?.seq ?? 0);
      if (seq <= sinceSeq) return { seq: sinceSeq, serials: [] };
      const rows = await sql<{ serial: string }[]>`SELECT serial FROM revocation_log WHERE seq > ${sinceSeq} AND seq <= ${seq} ORDER BY seq LIMIT 10001`;
      return { seq, serials: rows.length > 10_000 ? null : rows.map((r) => r.serial) };
    });
  }

  async revocationEvents(afterSeq: number, limit: number): Promise<RevocationEvent[]> {
    const rows = await this.read((sql) => sql<{ seq: number; serial: string; issuer_key_id: string; revoked_at: number; revocation_reason: RevocationReason | null; not_after: number }[]>`SELECT l.seq, l.serial, c.issuer_key_id, l.revoked_at, c.revocation_reason, c.not_after
      FROM revocation_log l JOIN certificates c ON c.serial = l.serial WHERE l.seq > ${afterSeq} ORDER BY l.seq LIMIT ${Math.floor(limit)}`);
    return rows.map((r) => ({ seq: Number(r.seq), serial: r.serial, issuerKeyId: r.issuer_key_id, revokedAt: fromSeconds(Number(r.revoked_at)), reason: r.revocation_reason ?? 'unspecified', notAfter: fromSeconds(Number(r.not_after)) }));
  }

  async lastLeafExpiry(issuerKeyId: string): Promise<Date | undefined> {
    const [row] = await this.read((sql) => sql<{ not_after: number }[]>`SELECT not_after FROM certificates WHERE kind = 'leaf' AND issuer_key_id = ${issuerKeyId} ORDER BY not_after DESC LIMIT 1`);
    return row === undefined ? undefined : fromSeconds(Number(row.not_after));
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.audited(async (_tx, audit) => audit.append(event));
  }

  async appendAuditBatch(events: readonly AuditEvent[]): Promise<void> {
    if (events.length > 0) await this.audited(async (_tx, audit) => events.forEach((e) => audit.append(e)));
  }

  /** Reads the chain a page at a time (a long log never sits in memory whole, and no query runs long). */
  async verifyAuditChain(): Promise<ChainVerdict> {
    try {
      return await verifyAuditChainIn(this.sql, this.sealKey);
    } catch (e) {
      throw postgresError(e, this.location);
    }
  }

  async auditHead(): Promise<{ id: number; seal: string } | undefined> {
    const [row] = await this.read((sql) => sql<{ id: number; hash: Buffer }[]>`SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`);
    return row ? { id: Number(row.id), seal: hex(row.hash) } : undefined;
  }

  async auditSealOf(id: number): Promise<string | undefined> {
    const [row] = await this.read((sql) => sql<{ hash: Buffer }[]>`SELECT hash FROM audit_log WHERE id = ${id}`);
    return row ? hex(row.hash) : undefined;
  }

  async auditLog(options: { limit?: number; after?: number; before?: number } = {}): Promise<AuditRecord[]> {
    const after = options.after ?? 0;
    const limit = options.limit ? Math.floor(options.limit) : null;
    // `before`: newest first, below that id; else oldest first, above `after`.
    const rows = await this.read((sql) =>
      options.before !== undefined
        ? sql<AuditRow[]>`SELECT id, at, actor, action, target, outcome, detail FROM audit_log WHERE id < ${options.before} ORDER BY id DESC LIMIT ${limit}`
        : sql<AuditRow[]>`SELECT id, at, actor, action, target, outcome, detail FROM audit_log WHERE id > ${after} ORDER BY id LIMIT ${limit}`,
    );
    return rows.map((r) => toAuditRecord({ ...r, id: Number(r.id), at: Number(r.at) }));
  }

  async caCertificates(): Promise<CertificateRecord[]> {
    return (await this.read((sql) => sql<CertificateRow[]>`SELECT * FROM certificates WHERE kind <> 'leaf' ORDER BY not_before, serial`)).map(toRecord);
  }

  async recordIntermediate(record: CertificateRecord, audit: AuditEvent, replaces: string | null): Promise<void> {
    await this.audited(async (tx, log) => {
      const [newest] = await tx<{ serial: string }[]>`SELECT serial FROM certificates WHERE kind <> 'leaf' AND kind = 'intermediate' ORDER BY not_before DESC, serial DESC LIMIT 1`;
      if ((newest?.serial ?? null) !== replaces) throw rotationConflict(newest?.serial ?? null);
      if ((await insertCertificates(tx, [record])).size === 0) throw new CaError('ERR_ROTATION_FAILED', `store: intermediate ${record.serial} could not be recorded (its serial is taken)`);
      log.append(audit);
      await tx`SELECT pg_notify(${CHANNEL}, 'hierarchy')`;
    });
  }

  async rootCrl(): Promise<StoredCrl | undefined> {
    const [row] = await this.read((sql) => sql<CrlRow[]>`SELECT * FROM crls WHERE level = 'root' ORDER BY number DESC LIMIT 1`);
    return row ? toStoredCrl(row) : undefined;
  }

  async saveRootCrl(crl: StoredCrl, audit: AuditEvent): Promise<void> {
    await this.audited(async (tx, log) => {
      await upsertCrl(tx, crl);
      log.append(audit);
      await tx`SELECT pg_notify(${CHANNEL}, 'hierarchy')`;
    });
  }

  async publishedCrl(issuerKeyId: string): Promise<StoredCrl | undefined> {
    const [row] = await this.read((sql) => sql<CrlRow[]>`SELECT * FROM crls WHERE issuer_key_id = ${issuerKeyId} AND level = 'intermediate'`);
    return row ? toStoredCrl(row) : undefined;
  }

  /** One statement, no write lock: CRLs of one issuer are ordered by their numbers, not by the writers' order. */
  async publishCrl(crl: StoredCrl): Promise<StoredCrl> {
    return this.read(async (sql) =>
      (await sql.begin(async (tx) => {
        await upsertCrl(tx, crl);
        const [row] = await tx<CrlRow[]>`SELECT * FROM crls WHERE issuer_key_id = ${crl.issuerKeyId}`;
        if (row && BigInt(row.number) === crl.number) await tx`SELECT pg_notify(${CHANNEL}, 'crl')`;
        return toStoredCrl(row!);
      })) as StoredCrl,
    );
  }

  async fingerprint(name: string): Promise<string | undefined> {
    const [row] = await this.read((sql) => sql<{ value: string }[]>`SELECT value FROM fingerprints WHERE name = ${name}`);
    return row?.value;
  }

  async recordFingerprint(name: string, value: string): Promise<string> {
    return this.read(async (sql) => {
      await sql`INSERT INTO fingerprints (name, value) VALUES (${name}, ${value}) ON CONFLICT (name) DO NOTHING`;
      const [row] = await sql<{ value: string }[]>`SELECT value FROM fingerprints WHERE name = ${name}`;
      return row!.value;
    });
  }

  async createApiKey(record: ApiKeyRecord, audit: AuditEvent): Promise<void> {
    await this.audited(async (tx, log) => {
      // An expired key frees its name: it is marked revoked as of its expiry (and resealed) to make room.
      for (const old of await tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE name = ${record.name} AND revoked_at IS NULL AND expires_at <= ${toSeconds(record.createdAt)}`) {
        await this.updateApiKey(tx, revokedApiKeyRow(apiKeyRow(old), Number(old.expires_at), this.sealKey));
      }
      const [taken] = await tx`SELECT 1 FROM api_keys WHERE name = ${record.name} AND revoked_at IS NULL`;
      if (taken) throw new CaError('ERR_APIKEY_NAME_TAKEN', `auth: an active API key is already named "${record.name}" (revoke it first)`);
      await this.insertApiKey(tx, newApiKeyRow(record, this.sealKey));
      log.append(audit);
    });
  }

  private async insertApiKey(tx: TransactionSql, r: ApiKeyRow): Promise<void> {
    await tx`INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at, seal)
      VALUES (${r.id}, ${r.name}, decode(${hex(r.secret_hash)}, 'hex'), ${r.scopes}, ${r.created_at}, ${r.expires_at}, decode(${hex(r.seal!)}, 'hex'))`;
  }

  private async updateApiKey(tx: TransactionSql, r: ApiKeyRow): Promise<void> {
    await tx`UPDATE api_keys SET revoked_at = ${r.revoked_at}, seal = decode(${hex(r.seal!)}, 'hex') WHERE id = ${r.id}`;
  }

  async findApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.read((sql) => sql<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${id}`);
    return row ? toApiKey(apiKeyRow(row), this.sealKey) : undefined;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.read((sql) => sql<ApiKeyRow[]>`SELECT * FROM api_keys ORDER BY created_at, name`)).map((r) => toApiKey(apiKeyRow(r), this.sealKey));
  }

  async revokeApiKey(name: string, at: Date, audit: AuditEvent): Promise<ApiKeyRecord | undefined> {
    return this.audited(async (tx, log) => {
      const [found] = await tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE name = ${name} AND revoked_at IS NULL`;
      if (!found) return undefined;
      const revoked = revokedApiKeyRow(apiKeyRow(found), toSeconds(at), this.sealKey);
      await this.updateApiKey(tx, revoked);
      // A predecessor still in its rotation grace goes too: revoking a name ends every secret it has.
      for (const old of await tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE name = ${name} AND revoked_at > ${toSeconds(at)}`) {
        await this.updateApiKey(tx, revokedApiKeyRow(apiKeyRow(old), toSeconds(at), this.sealKey));
      }
      log.append(audit);
      return toApiKey(revoked, this.sealKey);
    });
  }

  async rotateApiKey(name: string, next: (old: ApiKeyRecord) => ApiKeyRecord, graceEndsAt: Date, audit: (old: ApiKeyRecord, next: ApiKeyRecord) => AuditEvent): Promise<{ old: ApiKeyRecord; next: ApiKeyRecord } | undefined> {
    return this.audited(async (tx, log) => {
      const [found] = await tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE name = ${name} AND revoked_at IS NULL`;
      if (!found) return undefined;
      const row = apiKeyRow(found);
      const old = toApiKey(row, this.sealKey);
      if (!old.intact) throw new CaError('ERR_APIKEY_INVALID', `auth: API key "${name}" was changed outside meshca (its seal does not match); revoke it and create a new one`);
      const record = next(old);
      // An expired key is not "the active key": rotating it would bring its scopes back to life.
      if (old.expiresAt <= record.createdAt) throw new CaError('ERR_APIKEY_EXPIRED', `auth: API key "${name}" expired at ${old.expiresAt.toISOString()}; create a new one with ca apikey create`);
      // The old key's end of grace is its revocation time (never later than its own expiry): it frees the name.
      const retired = revokedApiKeyRow(row, Math.min(toSeconds(graceEndsAt), row.expires_at), this.sealKey);
      await this.updateApiKey(tx, retired);
      await this.insertApiKey(tx, newApiKeyRow(record, this.sealKey));
      const oldAfter = toApiKey(retired, this.sealKey);
      log.append(audit(oldAfter, record));
      return { old: oldAfter, next: record };
    });
  }

  async touchApiKey(id: string, at: Date): Promise<void> {
    await this.read((sql) => sql`UPDATE api_keys SET last_used_at = ${toSeconds(at)} WHERE id = ${id}`);
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 2 });
  }

  async recordRenewalAdvice(advice: Omit<RenewalAdvice, 'id'>, audit: AuditEvent): Promise<RenewalAdvice> {
    return this.audited(async (tx, log) => {
      const r = toAdviceRow(advice);
      const [row] = await tx<{ id: number }[]>`INSERT INTO renewal_advice (created_at, actor, selector, serial, identity, issued_before, window_start, window_end, explanation_url)
        VALUES (${r.created_at}, ${r.actor}, ${r.selector}, ${r.serial}, ${r.identity}, ${r.issued_before}, ${r.window_start}, ${r.window_end}, ${r.explanation_url}) RETURNING id`;
      const id = Number(row!.id);
      log.append(adviceAudit(audit, id));
      await tx`SELECT pg_notify(${CHANNEL}, 'advice')`;
      return { ...advice, id };
    });
  }

  async renewalAdviceSince(afterId: number, limit: number): Promise<RenewalAdvice[]> {
    const rows = await this.read((sql) => sql<AdviceRow[]>`SELECT * FROM renewal_advice WHERE id > ${afterId} ORDER BY id LIMIT ${Math.max(0, Math.floor(limit))}`);
    return rows.map(toAdvice);
  }

  async activeRenewalAdvice(createdSince: Date): Promise<RenewalAdvice[]> {
    const rows = await this.read((sql) => sql<AdviceRow[]>`SELECT * FROM renewal_advice WHERE created_at >= ${toSeconds(createdSince)} ORDER BY id`);
    return rows.map(toAdvice);
  }

  async leavesRelatedTo(serials: readonly string[], subjectKeyHashes: readonly string[]): Promise<CertificateRecord[]> {
    return this.read(async (sql) => {
      const found = new Map<string, CertificateRow>();
      // One = ANY list per column and chunk, so each lookup runs on its own index.
      for (const chunk of chunked(serials)) {
        for (const row of await sql<CertificateRow[]>`SELECT * FROM certificates WHERE renewed_from = ANY(${chunk}::text[]) AND kind = 'leaf'`) found.set(row.serial, row);
      }
      for (const chunk of chunked(subjectKeyHashes)) {
        for (const row of await sql<CertificateRow[]>`SELECT * FROM certificates WHERE subject_key_hash = ANY(${chunk}::text[]) AND kind = 'leaf'`) found.set(row.serial, row);
      }
      return [...found.values()].sort((a, b) => (a.serial < b.serial ? -1 : 1)).map(toRecord);
    });
  }

  async recordRevocations(serials: readonly string[], revokedAt: Date, reason: RevocationReason, audit: (serial: string) => AuditEvent, options: { readonly blockKeysOf?: readonly string[] } = {}): Promise<BulkRevocationOutcome> {
    return this.audited(async (tx, log): Promise<BulkRevocationOutcome> => {
      const at = toSeconds(revokedAt);
      const outcome: BulkRevocationOutcome = { revoked: [], alreadyRevoked: [], notFound: [], keysBlocked: [] };
      for (const chunk of chunked(serials)) {
        // The update decides, under the write lock: a racing revocation of the same serial makes this one already-revoked.
        const updated = new Set((await tx<{ serial: string }[]>`UPDATE certificates SET revoked_at = ${at}, revocation_reason = ${reason}
          WHERE serial = ANY(${chunk}::text[]) AND kind = 'leaf' AND revoked_at IS NULL RETURNING serial`).map((r) => r.serial));
        const revoked = chunk.filter((s) => updated.has(s));
        if (revoked.length > 0) await tx`INSERT INTO revocation_log (serial, revoked_at) SELECT serial, ${at} FROM unnest(${revoked}::text[]) WITH ORDINALITY AS u(serial, n) ORDER BY n`;
        const leaves = new Set((await tx<{ serial: string }[]>`SELECT serial FROM certificates WHERE serial = ANY(${chunk}::text[]) AND kind = 'leaf'`).map((r) => r.serial));
        for (const serial of chunk) {
          if (updated.has(serial)) {
            log.append(audit(serial));
            outcome.revoked.push(serial);
          } else (leaves.has(serial) ? outcome.alreadyRevoked : outcome.notFound).push(serial);
        }
      }
      const blocked = new Set<string>();
      for (const chunk of chunked(options.blockKeysOf ?? [])) {
        const keyed = await tx<{ serial: string; subject_key_hash: string }[]>`SELECT serial, subject_key_hash FROM certificates WHERE serial = ANY(${chunk}::text[]) AND kind = 'leaf'`;
        const keyOf = new Map(keyed.map((r) => [r.serial, r.subject_key_hash]));
        // Each key once, named by the first of these serials that has it.
        const first = new Map<string, string>();
        for (const serial of chunk) {
          const hash = keyOf.get(serial);
          if (hash !== undefined && !blocked.has(hash) && !first.has(hash)) first.set(hash, serial);
        }
        if (first.size === 0) continue;
        const inserted = new Set((await tx<{ subject_key_hash: string }[]>`INSERT INTO blocked_keys (subject_key_hash, blocked_at, serial)
          SELECT h, ${at}, s FROM unnest(${[...first.keys()]}::text[], ${[...first.values()]}::text[]) AS u(h, s)
          ON CONFLICT DO NOTHING RETURNING subject_key_hash`).map((r) => r.subject_key_hash));
        for (const [hash, serial] of first) {
          blocked.add(hash);
          if (!inserted.has(hash)) continue;
          const { at: when, actor } = audit(serial);
          log.append({ at: when, actor, action: 'key-block', target: serial, outcome: 'ok', detail: { subjectKeyHash: hash } });
        }
      }
      outcome.keysBlocked.push(...blocked);
      if (outcome.revoked.length > 0) await tx`SELECT pg_notify(${CHANNEL}, 'revocation')`;
      return outcome;
    });
  }

  async successorsOf(serials: readonly string[]): Promise<Map<string, string[]>> {
    return this.read(async (sql) => {
      const successors = new Map<string, string[]>(serials.map((s) => [s, []]));
      for (const chunk of chunked(serials)) {
        const rows = await sql<{ serial: string; renewed_from: string }[]>`SELECT serial, renewed_from FROM certificates WHERE renewed_from = ANY(${chunk}::text[]) ORDER BY issued_at, serial`;
        for (const row of rows) successors.get(row.renewed_from)!.push(row.serial);
      }
      return successors;
    });
  }

  async createEabKey(record: EabKeyRecord, audit: AuditEvent): Promise<void> {
    await this.audited(async (tx, log) => {
      const [taken] = await tx`SELECT 1 FROM acme_eab_keys WHERE name = ${record.name} AND revoked_at IS NULL`;
      if (taken) throw eabNameTaken(record.name);
      await tx`INSERT INTO acme_eab_keys (kid, name, scopes, sealed_key, created_at, expires_at)
        VALUES (${record.kid}, ${record.name}, ${JSON.stringify(record.scopes)}, decode(${hex(record.sealedKey)}, 'hex'), ${toSeconds(record.createdAt)}, ${toSeconds(record.expiresAt)})`;
      log.append(audit);
    });
  }

  async findEabKey(kid: string): Promise<EabKeyRecord | undefined> {
    const [row] = await this.read((sql) => sql<EabKeyRow[]>`SELECT * FROM acme_eab_keys WHERE kid = ${kid}`);
    return row ? toEabKey(row) : undefined;
  }

  async listEabKeys(): Promise<EabKeyRecord[]> {
    return (await this.read((sql) => sql<EabKeyRow[]>`SELECT * FROM acme_eab_keys ORDER BY created_at DESC, kid`)).map(toEabKey);
  }

  async revokeEabKey(name: string, at: Date, audit: AuditEvent): Promise<EabKeyRecord | undefined> {
    return this.audited(async (tx, log) => {
      const [row] = await tx<EabKeyRow[]>`UPDATE acme_eab_keys SET revoked_at = ${toSeconds(at)} WHERE name = ${name} AND revoked_at IS NULL RETURNING *`;
      if (!row) return undefined;
      log.append(audit);
      return toEabKey(row);
    });
  }

  /** Spent nonces are in the database, so every replica refuses one another replica took. */
  readonly spentNoncesDurable = true;

  async spendNonce(nonce: string, expiresAt: Date, now: Date): Promise<boolean> {
    return this.read(async (sql) => {
      const spent = await sql`INSERT INTO acme_spent_nonces (nonce, expires_at) VALUES (${nonce}, ${toSeconds(expiresAt)}) ON CONFLICT (nonce) DO NOTHING RETURNING nonce`;
      // Expired ones go a few at a time, with the requests that spend the others.
      await sql`DELETE FROM acme_spent_nonces WHERE ctid IN (SELECT ctid FROM acme_spent_nonces WHERE expires_at <= ${toSeconds(now)} LIMIT 16)`;
      return spent.length === 1;
    });
  }

  async createAcmeAccount(account: AcmeAccountRecord, audit: AuditEvent): Promise<{ account: AcmeAccountRecord; created: boolean }> {
    return this.audited(async (tx, log) => {
      const [existing] = await tx<AcmeAccountRow[]>`SELECT * FROM acme_accounts WHERE thumbprint = ${account.thumbprint}`;
      if (existing) return { account: toAcmeAccount(existing), created: false };
      await tx`INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_kid, created_at)
        VALUES (${account.id}, ${account.thumbprint}, ${account.jwk}, ${account.status}, ${JSON.stringify(account.contact)}, ${account.eabKid}, ${toSeconds(account.createdAt)})`;
      await tx`UPDATE acme_eab_keys SET last_used_at = ${toSeconds(account.createdAt)} WHERE kid = ${account.eabKid}`;
      log.append(audit);
      return { account, created: true };
    });
  }

  async findAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeAccountRow[]>`SELECT * FROM acme_accounts WHERE id = ${id}`);
    return row ? toAcmeAccount(row) : undefined;
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeAccountRow[]>`SELECT * FROM acme_accounts WHERE thumbprint = ${thumbprint}`);
    return row ? toAcmeAccount(row) : undefined;
  }

  async updateAcmeAccount(id: string, change: Partial<Pick<AcmeAccountRecord, 'contact' | 'status' | 'jwk' | 'thumbprint'>>, audit: AuditEvent, fromThumbprint?: string): Promise<AcmeAccountRecord | undefined> {
    return this.audited(async (tx, log) => {
      const [row] = await tx<AcmeAccountRow[]>`SELECT * FROM acme_accounts WHERE id = ${id} FOR UPDATE`;
      if (!row) return undefined;
      if (fromThumbprint !== undefined && row.thumbprint !== fromThumbprint) throw acmeKeyChanged();
      if (change.thumbprint !== undefined && (await tx`SELECT 1 FROM acme_accounts WHERE thumbprint = ${change.thumbprint} AND id <> ${id}`).length > 0) throw acmeKeyInUse();
      const next = { ...toAcmeAccount(row), ...change };
      await tx`UPDATE acme_accounts SET thumbprint = ${next.thumbprint}, jwk = ${next.jwk}, status = ${next.status}, contact = ${JSON.stringify(next.contact)} WHERE id = ${id}`;
      log.append(audit);
      return next;
    });
  }

  async createAcmeOrder(order: AcmeOrderRecord, authorizations: readonly AcmeAuthorizationRecord[], challenges: readonly AcmeChallengeRecord[], audit: AuditEvent, maxOpen?: number): Promise<void> {
    await this.audited(async (tx, log) => {
      if (maxOpen !== undefined) {
        // The account row is locked, so two replicas count one account's open orders one after the other.
        await tx`SELECT id FROM acme_accounts WHERE id = ${order.accountId} FOR UPDATE`;
        const [open] = await tx<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM acme_orders WHERE account_id = ${order.accountId} AND status IN ('pending', 'ready', 'processing') AND expires_at > ${toSeconds(order.createdAt)}`;
        if (open!.n >= maxOpen) throw acmeTooManyOrders(maxOpen);
      }
      await tx`INSERT INTO acme_orders (id, account_id, status, identifiers, created_at, expires_at) VALUES (${order.id}, ${order.accountId}, ${order.status}, ${JSON.stringify(order.identifiers)}, ${toSeconds(order.createdAt)}, ${toSeconds(order.expiresAt)})`;
      for (const a of authorizations) await tx`INSERT INTO acme_authorizations (id, order_id, account_id, identifier_type, identifier_value, status, expires_at) VALUES (${a.id}, ${a.orderId}, ${a.accountId}, ${a.identifier.type}, ${a.identifier.value}, ${a.status}, ${toSeconds(a.expiresAt)})`;
      for (const c of challenges) await tx`INSERT INTO acme_challenges (id, authorization_id, type, token, status) VALUES (${c.id}, ${c.authorizationId}, ${c.type}, ${c.token}, ${c.status})`;
      log.append(audit);
    });
  }

  async acmeOrderOfCertificate(serial: string): Promise<AcmeOrderRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeOrderRow[]>`SELECT * FROM acme_orders WHERE certificate_serial = ${serial}`);
    return row ? toAcmeOrder(row) : undefined;
  }

  async pruneAcmeOrders(before: Date, limit: number): Promise<number> {
    return this.bounded(async () =>
      (await this.sql.begin(async (tx) => {
        const ids = (await tx<{ id: string }[]>`SELECT id FROM acme_orders WHERE certificate_serial IS NULL AND expires_at < ${toSeconds(before)} LIMIT ${Math.floor(limit)} FOR UPDATE SKIP LOCKED`).map((r) => r.id);
        if (ids.length === 0) return 0;
        await tx`DELETE FROM acme_challenges WHERE authorization_id IN (SELECT id FROM acme_authorizations WHERE order_id IN ${tx(ids)})`;
        await tx`DELETE FROM acme_authorizations WHERE order_id IN ${tx(ids)}`;
        await tx`DELETE FROM acme_orders WHERE id IN ${tx(ids)}`;
        return ids.length;
      })) as number,
    );
  }

  async findAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeOrderRow[]>`SELECT * FROM acme_orders WHERE id = ${id}`);
    return row ? toAcmeOrder(row) : undefined;
  }

  async listAcmeOrders(accountId: string, limit: number): Promise<AcmeOrderRecord[]> {
    return (await this.read((sql) => sql<AcmeOrderRow[]>`SELECT * FROM acme_orders WHERE account_id = ${accountId} ORDER BY created_at DESC, id LIMIT ${Math.floor(limit)}`)).map(toAcmeOrder);
  }

  async updateAcmeOrder(id: string, change: Partial<Pick<AcmeOrderRecord, 'status' | 'error' | 'certificateSerial'>>, from?: AcmeOrderRecord['status']): Promise<AcmeOrderRecord | undefined> {
    return this.bounded(async () =>
      (await this.sql.begin(async (tx) => {
        const [row] = await tx<AcmeOrderRow[]>`SELECT * FROM acme_orders WHERE id = ${id} FOR UPDATE`;
        if (!row || (from !== undefined && row.status !== from)) return undefined;
        const next = { ...toAcmeOrder(row), ...change };
        await tx`UPDATE acme_orders SET status = ${next.status}, error = ${next.error}, certificate_serial = ${next.certificateSerial} WHERE id = ${id}`;
        return next;
      })) as AcmeOrderRecord | undefined,
    );
  }

  async findAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeAuthorizationRow[]>`SELECT * FROM acme_authorizations WHERE id = ${id}`);
    return row ? toAcmeAuthorization(row) : undefined;
  }

  async acmeAuthorizationsOf(orderId: string): Promise<AcmeAuthorizationRecord[]> {
    return (await this.read((sql) => sql<AcmeAuthorizationRow[]>`SELECT * FROM acme_authorizations WHERE order_id = ${orderId} ORDER BY id`)).map(toAcmeAuthorization);
  }

  async updateAcmeAuthorization(id: string, status: AcmeAuthorizationRecord['status']): Promise<void> {
    await this.read((sql) => sql`UPDATE acme_authorizations SET status = ${status} WHERE id = ${id}`);
  }

  async findAcmeChallenge(id: string): Promise<AcmeChallengeRecord | undefined> {
    const [row] = await this.read((sql) => sql<AcmeChallengeRow[]>`SELECT * FROM acme_challenges WHERE id = ${id}`);
    return row ? toAcmeChallenge(row) : undefined;
  }

  async acmeChallengesOf(authorizationId: string): Promise<AcmeChallengeRecord[]> {
    return (await this.read((sql) => sql<AcmeChallengeRow[]>`SELECT * FROM acme_challenges WHERE authorization_id = ${authorizationId} ORDER BY type`)).map(toAcmeChallenge);
  }

  async settleAcmeChallenge(target: { challengeId: string; authorizationId: string; orderId: string }, outcome: { valid: true; at: Date } | { valid: false; error: string }): Promise<boolean> {
    return this.bounded(async () =>
      (await this.sql.begin(async (tx) => {
        const status = outcome.valid ? 'valid' : 'invalid';
        const settled = await tx`UPDATE acme_challenges SET status = ${status}, validated_at = ${outcome.valid ? toSeconds(outcome.at) : null}, error = ${outcome.valid ? null : outcome.error} WHERE id = ${target.challengeId} AND status = 'processing' RETURNING id`;
        if (settled.length !== 1) return false;
        await tx`UPDATE acme_authorizations SET status = ${status} WHERE id = ${target.authorizationId}`;
        // The order row is locked first, so the last of two authorizations settled at once on two replicas sees the other.
        await tx`SELECT id FROM acme_orders WHERE id = ${target.orderId} FOR UPDATE`;
        if (!outcome.valid) await tx`UPDATE acme_orders SET status = 'invalid', error = ${outcome.error} WHERE id = ${target.orderId} AND status = 'pending'`;
        else await tx`UPDATE acme_orders SET status = 'ready' WHERE id = ${target.orderId} AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM acme_authorizations WHERE order_id = ${target.orderId} AND status <> 'valid')`;
        return true;
      })) as boolean,
    );
  }

  async updateAcmeChallenge(id: string, change: Partial<Pick<AcmeChallengeRecord, 'status' | 'validatedAt' | 'error'>>, from?: AcmeChallengeRecord['status']): Promise<boolean> {
    const setValidated = change.validatedAt === undefined ? undefined : change.validatedAt === null ? null : toSeconds(change.validatedAt);
    const rows = await this.read((sql) => sql`UPDATE acme_challenges SET status = COALESCE(${change.status ?? null}, status), validated_at = ${setValidated === undefined ? sql`validated_at` : setValidated}, error = ${change.error === undefined ? sql`error` : change.error}
      WHERE id = ${id} ${from === undefined ? sql`` : sql`AND status = ${from}`} RETURNING id`);
    return rows.length === 1;
  }
}

/** An api_keys row with its BIGINT columns as numbers. */
function apiKeyRow(r: ApiKeyRow): ApiKeyRow {
  const n = (v: number | null): number | null => (v === null ? null : Number(v));
  return { ...r, created_at: Number(r.created_at), expires_at: Number(r.expires_at), revoked_at: n(r.revoked_at), last_used_at: n(r.last_used_at) };
}

/** The numbered migration files, oldest first, and the newest version. */
function migrationFiles(): { files: string[]; latest: number } {
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return { files, latest: Number(files.at(-1)?.slice(0, 3) ?? 0) };
}

/**
 * What the database already holds that is not PostgreSQL's own: relations (tables, views, sequences…) and functions in
 * any schema, a few names. A CA is only made in a database where this is empty: anything there (another
 * application's tables, or a trigger planted beforehand to drop audit rows) would share the CA's trust.
 */
async function foreignObjects(sql: Sql | TransactionSql | ReservedSql): Promise<string[]> {
  const rows = await sql<{ what: string }[]>`
    SELECT n.nspname || '.' || c.relname AS what FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    ORDER BY 1 LIMIT 4`;
  return rows.map((r) => r.what);
}

function refuseUnlessEmpty(found: readonly string[], location: string): void {
  if (found.length > 0) {
    throw new CaError('ERR_DATABASE_IN_USE', `store: the database ${location} is not empty (it holds ${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}): give the CA an empty database of its own`);
  }
}

/**
 * Makes the whole meshca schema inside the caller's transaction, in a database that holds nothing else: a failure
 * anywhere after it (a copy that stops half-way, a process killed) rolls the schema back with everything else.
 * Transactions that race for one database take turns (an advisory lock), and the later one finds it not empty.
 */
export async function createPostgresSchema(tx: TransactionSql, location: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
  refuseUnlessEmpty(await foreignObjects(tx), location);
  await tx`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;
  for (const file of migrationFiles().files) {
    await tx.unsafe(readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8')).simple();
    await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${Number(file.slice(0, 3))}, ${file}, ${Math.floor(Date.now() / 1000)})`;
  }
}

/** Applies every numbered migration newer than the database's, each in its own transaction, one replica at a time. */
async function migrate(sql: Sql, create: boolean, location: string): Promise<{ version: number; upgraded: { from: number; to: number } | undefined }> {
  const { files, latest } = migrationFiles();
  const reserved = await sql.reserve();
  try {
    await reserved`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    try {
      const [marked] = await reserved<{ present: boolean }[]>`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`;
      if (!marked!.present) {
        // Nothing is written to a database that holds no CA unless asked to make one, and then only to an empty one.
        if (!create) throw new CaError('ERR_STORE_MISSING', `store: the database ${location} holds no meshca CA (create one with ca init --database)`);
        refuseUnlessEmpty(await foreignObjects(reserved), location);
        await reserved`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;
      }
      const [row] = await reserved<{ v: number | null }[]>`SELECT MAX(version) AS v FROM schema_migrations`;
      const current = Number(row?.v ?? 0);
      if (current > latest) throw new CaError('ERR_STORE_TOO_NEW', `store: the database ${location} is at schema ${current}, newer than this meshca understands (${latest}); upgrade meshca`);
      if (current === 0 && !create) {
        throw new CaError('ERR_STORE_MISSING', `store: the database ${location} holds no meshca CA (create one with ca init --database)`);
      }
      for (const file of files) {
        const version = Number(file.slice(0, 3));
        if (version <= current) continue;
        const text = readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8');
        await reserved.unsafe('BEGIN');
        try {
          await reserved.unsafe(text).simple();
          await reserved`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${version}, ${file}, ${Math.floor(Date.now() / 1000)})`;
          await reserved.unsafe('COMMIT');
        } catch (e) {
          await reserved.unsafe('ROLLBACK').catch(() => {});
          throw e;
        }
      }
      return { version: latest, upgraded: current > 0 && current < latest ? { from: current, to: latest } : undefined };
    } finally {
      await reserved`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {});
    }
  } finally {
    reserved.release();
  }
}

/**
 * Opens the CA's PostgreSQL database: a small pool with short timeouts (a request gets `ERR_DATABASE_UNAVAILABLE`
 * within seconds when the server is gone, and the pool reconnects on its own when it is back), BIGINT read as numbers,
 * and the schema migrated. With `create`, an empty database gets the schema.
 */
export async function openPostgresStore(url: string, options: { create?: boolean; sealKey: Buffer }): Promise<PostgresCertificateStore> {
  const location = redactDatabaseUrl(url);
  const sql = postgres(url, {
    max: 8,
    connect_timeout: CONNECT_TIMEOUT_SECONDS,
    // Reconnect within a second of the database's return (the client's default backs off up to 20 s).
    backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
    query_timeout: QUERY_TIMEOUT_SECONDS,
    queue_timeout: QUERY_TIMEOUT_SECONDS,
    idle_timeout: 300,
    onnotice: () => {},
    // A writer that went away mid-transaction (a network partition) would hold the write lock: the server ends it.
    connection: { application_name: 'meshca', idle_in_transaction_session_timeout: 10_000, lock_timeout: 5_000 },
    types: { int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  });
  try {
    const { version, upgraded } = await migrate(sql, options.create === true, location);
    const [tables] = await sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()
      AND table_name IN ('certificates', 'audit_log', 'audit_head', 'crl_numbers', 'api_keys', 'used_tokens', 'revocation_log', 'blocked_keys', 'crls', 'fingerprints', 'renewal_advice', 'acme_eab_keys', 'acme_accounts', 'acme_spent_nonces', 'acme_orders', 'acme_authorizations', 'acme_challenges')`;
    if (tables?.n !== 17) throw new CaError('ERR_STORE_CORRUPT', `store: ${location} is missing meshca tables`);
    // meshca makes no triggers, rules, row security policies or views: one found was added outside meshca, e.g. to
    // drop audit rows as they are written or hide revocations from the CRL.
    const foreign = await sql<{ what: string }[]>`
      SELECT 'trigger "' || t.tgname || '" on ' || c.relname AS what FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
      UNION ALL SELECT 'rule "' || rulename || '" on ' || tablename FROM pg_rules WHERE schemaname = current_schema()
      UNION ALL SELECT 'row security policy "' || policyname || '" on ' || tablename FROM pg_policies WHERE schemaname = current_schema()
      UNION ALL SELECT 'row security on ' || relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relrowsecurity
      UNION ALL SELECT 'view "' || viewname || '"' FROM pg_views WHERE schemaname = current_schema()
      LIMIT 3`;
    if (foreign.length > 0) {
      throw new CaError('ERR_AUDIT_TAMPERED', `store: ${location} holds ${foreign.map((f) => f.what).join(', ')}, which meshca never creates: the database was changed outside meshca; refusing to use it`);
    }
    const store = new PostgresCertificateStore(sql, location, options.sealKey);
    store.upgraded = upgraded;
    store.schemaVersion = version;
    return store;
  } catch (e) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw postgresError(e, location);
  }
}
