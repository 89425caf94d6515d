// The CA's store on better-sqlite3, embedded in the CA directory: WAL, synchronous=FULL, forward-only numbered migrations.

import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ApiKeyRecord } from '../auth/ports.js';
import { parseScope } from '../auth/scopes.js';
import type { AuditEvent, AuditRecord, BulkRevocationOutcome, CertificateQuery, CertificateRecord, CrlScope, IssuedEntry, IssuedOutcome, Renewal, RevocationEvent, RevocationOutcome, RevokedCertificate, SpentToken, StoredCrl } from '../authority/ports.js';
import { subjectKeyHash } from '../crypto/keys.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { chainReachesCounter, GENESIS, legacyChainProblem, legacyRowHash, sealRow, verifyChain, type ChainedRow, type ChainVerdict } from './audit-chain.js';
import { replayAudit, rotationConflict, type CaStore, type ChangeListener } from './ca-store.js';
import { CRL_PAGE, certificateFilter, certificateOrder, chunked } from './queries.js';
import type { RenewalAdvice } from '../authority/renewal-advice.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeOrderRecord, EabKeyRecord } from '../acme/ports.js';
import type { RevocationReason } from '../revocation/reasons.js';
import { adviceAudit, toAdvice, toAdviceRow, type AdviceRow, apiKeySeal, auditContent, fromSeconds, newApiKeyRow, revokedApiKeyRow, toApiKey, toAuditRecord, toRecord, toRow, toSeconds, toStoredCrl, type ApiKeyRow, type AuditRow, type CertificateRow, type CrlRow, eabNameTaken, toEabKey, type EabKeyRow, acmeKeyInUse,
  acmeKeyChanged,
  acmeTooManyOrders, toAcmeAccount, type AcmeAccountRow, toAcmeOrder, toAcmeAuthorization, toAcmeChallenge, type AcmeOrderRow, type AcmeAuthorizationRow, type AcmeChallengeRow } from './rows.js';

const MIGRATIONS_DIR = new URL('./migrations/sqlite/', import.meta.url);

/** Thrown inside a transaction to roll it back when a serial collides. */
class SerialTaken extends Error {}

/**
 * Appends sealed audit rows on `db`. The id is the AUTOINCREMENT counter's next value (never the last row's id
 * plus one), so a row deleted from the end leaves a gap the next row makes visible. Callers hold a write
 * transaction, so the link to the previous row is exact.
 */
function auditAppender(db: Database.Database, sealKey: Buffer): (event: AuditEvent) => void {
  const head = db.prepare<[], { seq: number | null; hash: Buffer | null }>(
    "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log') AS seq, (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS hash",
  );
  const insert = db.prepare('INSERT INTO audit_log (id, at, actor, action, target, outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  return (event) => {
    const last = head.get()!;
    const row = { id: (last.seq ?? 0) + 1, ...auditContent(event) };
    const prev = last.hash ?? GENESIS;
    insert.run(row.id, row.at, row.actor, row.action, row.target, row.outcome, row.detail, prev, sealRow(sealKey, prev, row));
  };
}

/** Translates SQLite failures into CA errors that say what to do. */
function storeError(e: unknown, path: string): CaError {
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT')) {
    return new CaError('ERR_STORE_CORRUPT', `store: ${path} is not a readable meshca database (corrupt or not SQLite)`, { cause: e });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CaError('ERR_STORE_BUSY', `store: ${path} stayed locked by another process; try again`, { cause: e });
  }
  if (e instanceof CaError) return e;
  return new CaError('ERR_STORE_CORRUPT', `store: ${path} could not be used: ${(e as Error).message}`, { cause: e });
}

/** The CA's storage on better-sqlite3: certificates, revocations, CRL numbers, credentials, audit log, hierarchy. */
export class SqliteCertificateStore implements CaStore {
  readonly backend = 'sqlite' as const;
  private readonly insertCertificate;
  private readonly audit;
  private readonly selectBySerial;
  private readonly markRevoked;
  private readonly bumpCrlNumber;
  private readonly selectRevokedBy;
  private readonly spendToken;
  private readonly logRevocation;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly sealKey: Buffer,
  ) {
    this.insertCertificate = db.prepare(
      `INSERT INTO certificates (serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason, subject_key_hash, renewed_from, issued_at, requested_by)
       VALUES (@serial, @kind, @issuer_key_id, @common_name, @spiffe_id, @dns_names, @ip_addresses, @not_before, @not_after, @der, @revoked_at, @revocation_reason, @subject_key_hash, @renewed_from, @issued_at, @requested_by)
       ON CONFLICT (serial) DO NOTHING`,
    );
    this.audit = auditAppender(db, sealKey);
    this.selectBySerial = db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE serial = ?');
    this.markRevoked = db.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL');
    this.bumpCrlNumber = db.prepare<[string, bigint, bigint], { last_number: bigint }>(
      `INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, MAX(1, ?))
       ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = MAX(last_number + 1, ?) RETURNING last_number`,
    ).safeIntegers(true);
    this.selectRevokedBy = db
      .prepare<[string, number, string, number], [string, number, RevocationReason]>(
        'SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer_key_id = ? AND revoked_at IS NOT NULL AND not_after > ? AND serial > ? ORDER BY serial LIMIT ?',
      )
      .raw(true);
    this.logRevocation = db.prepare('INSERT INTO revocation_log (serial, revoked_at) VALUES (?, ?)');
    this.spendToken = db.prepare('INSERT INTO used_tokens (jti, used_at, expires_at, serial) VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING');
  }

  /** The schema versions this opening upgraded the database from and to, if it did (what changed is in the audit log). */
  upgraded: { from: number; to: number } | undefined;
  schemaVersion = 0;

  get location(): string {
    return this.path;
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement for `text`, prepared once per store (preparing costs more than running a lookup). */
  private sql<P extends unknown[] = unknown[], R = unknown>(text: string): Database.Statement<P, R> {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof SerialTaken) throw e;
      throw storeError(e, this.path);
    }
  }

  /** The row `sql` selects for `key`, read back with `to`; undefined when there is none. */
  private one<R, T>(sql: string, key: string, to: (row: R) => T): T | undefined {
    return this.guard(() => {
      const row = this.sql<[string], R>(sql).get(key);
      return row === undefined ? undefined : to(row);
    });
  }

  /** Reads a meshca table, so a database file that lost the CA's tables is not taken for a working one. */
  async ping(): Promise<void> {
    this.guard(() => this.sql('SELECT id FROM audit_log LIMIT 1').get());
  }

  /** One process at a time writes the file, and every reader polls it: there is nothing to announce. */
  onChange(_listener: ChangeListener): () => void {
    return () => {};
  }

  async recordIssued(record: CertificateRecord, audit: AuditEvent, spendToken?: SpentToken): Promise<IssuedOutcome> {
    return (await this.recordIssuedBatch([{ record, audit, spendToken }]))[0]!;
  }

  /**
   * One durable transaction (one fsync) for many issuances. Each entry runs in its own savepoint, so a taken
   * serial or a spent token undoes only that entry; the others commit together.
   */
  async recordIssuedBatch(entries: readonly IssuedEntry[]): Promise<IssuedOutcome[]> {
    return this.guard(() =>
      this.db.transaction(() => entries.map((entry) => {
        try {
          return this.recordOne(entry);
        } catch (e) {
          if (e instanceof SerialTaken) return 'serial-taken' as const;
          throw e;
        }
      })).immediate(),
    );
  }

  /** Records one issuance inside the caller's transaction (a savepoint of its own). */
  private recordOne(entry: IssuedEntry): Exclude<IssuedOutcome, 'serial-taken'> {
    this.recordOneTx ??= this.db.transaction(({ record, audit, spendToken, renewalGraceSeconds }: IssuedEntry): Exclude<IssuedOutcome, 'serial-taken'> => {
      // Checked in the transaction that stores the leaf, so a racing keyCompromise or a second renewal cannot slip between.
      if (this.sql<[string]>('SELECT 1 FROM blocked_keys WHERE subject_key_hash = ?').get(record.subjectKeyHash) !== undefined) return 'key-blocked';
      // Earlier successors of the same predecessor: past the grace a new one would fork the lineage. Within it, a
      // successor for another key (a rekey repeat, or a thief's rekey) is replaced: revoked as superseded together
      // with everything renewed from it since, so no branch outlives the repeat. Successors for the same key (a
      // retry that raced the first) are the same holder's and stay valid: revoking one could strand the client
      // that received it.
      let superseded: string[] = [];
      if (record.renewedFrom !== null) {
        const first = this.sql<[string], number | null>('SELECT MIN(issued_at) FROM certificates WHERE renewed_from = ?').pluck().get(record.renewedFrom);
        if (first !== null && first !== undefined && toSeconds(record.issuedAt) - first > (renewalGraceSeconds ?? 0)) return 'renewal-forked';
        // A renewal for the same key that raced an earlier one (both passed the authority's check before either was
        // stored) gets that one's successor: one lineage, and every racer holds a valid certificate.
        const twin = this.sql<[string, string, number], CertificateRow>('SELECT * FROM certificates WHERE renewed_from = ? AND subject_key_hash = ? AND revoked_at IS NULL AND not_after > ? ORDER BY issued_at, serial LIMIT 1').get(record.renewedFrom, record.subjectKeyHash, toSeconds(record.issuedAt));
        if (twin) {
          this.audit(replayAudit(audit, record.renewedFrom, twin.serial));
          return { replayed: toRecord(twin) };
        }
        superseded = this.sql<[string, string, number], string>(
          `WITH RECURSIVE replaced(serial) AS (
             SELECT serial FROM certificates WHERE renewed_from = ? AND subject_key_hash IS NOT ?
             UNION SELECT c.serial FROM certificates c JOIN replaced r ON c.renewed_from = r.serial
           )
           SELECT serial FROM certificates WHERE serial IN replaced AND revoked_at IS NULL AND not_after > ? ORDER BY serial`,
        ).pluck().all(record.renewedFrom, record.subjectKeyHash, toSeconds(record.issuedAt));
      }
      if (spendToken && this.spendToken.run(spendToken.jti, toSeconds(audit.at), toSeconds(spendToken.expiresAt), record.serial).changes === 0) {
        return 'token-spent';
      }
      const inserted = this.insertCertificate.run(toRow(record));
      // Undo the token spend too (the savepoint rolls back): the caller retries with a fresh serial.
      if (inserted.changes === 0) throw new SerialTaken();
      const at = toSeconds(record.issuedAt);
      for (const earlier of superseded) {
        this.markRevoked.run(at, 'superseded', earlier);
        this.logRevocation.run(earlier, at);
        this.audit({ at: audit.at, actor: audit.actor, action: 'revoke', target: earlier, outcome: 'ok', detail: { reason: 'superseded', supersededBy: record.serial, lineage: 'repeat' } });
      }
      this.audit(superseded.length === 0 ? audit : { ...audit, detail: { ...audit.detail, lineage: 'repeat', supersedes: superseded } });
      return 'recorded';
    });
    return this.recordOneTx(entry);
  }
  private recordOneTx: Database.Transaction<(entry: IssuedEntry) => Exclude<IssuedOutcome, 'serial-taken'>> | undefined;

  async findBySerial(serial: string): Promise<CertificateRecord | undefined> {
    return this.guard(() => {
      const row = this.selectBySerial.get(serial);
      return row ? toRecord(row) : undefined;
    });
  }

  async list(query: CertificateQuery): Promise<CertificateRecord[]> {
    const { where, params } = certificateFilter(query, () => '?');
    const sql = `SELECT * FROM certificates ${where} ${certificateOrder(query)}${query.limit ? ` LIMIT ${Math.floor(query.limit)}` : ''}`;
    return this.guard(() => this.sql<(string | number)[], CertificateRow>(sql).all(...params).map(toRecord));
  }

  async count(query: CertificateQuery): Promise<number> {
    const { where, params } = certificateFilter(query, () => '?');
    return this.guard(() => this.sql<(string | number)[], number>(`SELECT COUNT(*) FROM certificates ${where}`).pluck().get(...params) ?? 0);
  }

  async recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent, options: { readonly blockKey?: boolean } = {}): Promise<RevocationOutcome> {
    return this.guard(() =>
      this.db.transaction((): RevocationOutcome => {
        const row = this.selectBySerial.get(serial);
        if (!row) return { result: 'not-found' };
        const at = toSeconds(revokedAt);
        const already = row.revoked_at !== null;
        if (already) this.audit({ ...audit, outcome: 'noop', detail: { ...audit.detail, already: 'revoked' } });
        else {
          this.markRevoked.run(at, reason, serial);
          this.logRevocation.run(serial, at);
          this.audit(audit);
        }
        const alsoRevoked: string[] = [];
        let keyBlocked = false;
        if (options.blockKey) {
          keyBlocked = true;
          if (this.sql('INSERT INTO blocked_keys (subject_key_hash, blocked_at, serial) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(row.subject_key_hash, at, serial).changes > 0) {
            this.audit({ at: audit.at, actor: audit.actor, action: 'key-block', target: serial, outcome: 'ok', detail: { subjectKeyHash: row.subject_key_hash } });
          }
          // Tainted: every leaf with the key, and every leaf renewed (transitively) from one of them, since those
          // renewals were authorized by the key; a thief's rekeyed lineage goes with the holder's.
          const tainted = this.sql<[string, number], { serial: string; subject_key_hash: string }>(
            `WITH RECURSIVE tainted(serial) AS (
               SELECT serial FROM certificates WHERE subject_key_hash = ? AND kind = 'leaf'
               UNION SELECT c.serial FROM certificates c JOIN tainted t ON c.renewed_from = t.serial
             )
             SELECT serial, subject_key_hash FROM certificates WHERE serial IN tainted AND revoked_at IS NULL AND not_after > ? ORDER BY serial`,
          ).all(row.subject_key_hash, at);
          for (const sibling of tainted) {
            this.markRevoked.run(at, 'keyCompromise', sibling.serial);
            this.logRevocation.run(sibling.serial, at);
            const why = sibling.subject_key_hash === row.subject_key_hash ? { sameKeyAs: serial } : { renewedWithKeyOf: serial };
            this.audit({ at: audit.at, actor: audit.actor, action: 'revoke', target: sibling.serial, outcome: 'ok', detail: { reason: 'keyCompromise', ...why } });
            alsoRevoked.push(sibling.serial);
          }
        }
        const record = toRecord(already ? row : { ...row, revoked_at: at, revocation_reason: reason });
        return { result: already ? 'already-revoked' : 'revoked', record, alsoRevoked, keyBlocked };
      }).immediate(),
    );
  }

  async isKeyBlocked(subjectKeyHash: string): Promise<boolean> {
    return this.guard(() => this.sql<[string]>('SELECT 1 FROM blocked_keys WHERE subject_key_hash = ?').get(subjectKeyHash) !== undefined);
  }

  async renewalsOf(serial: string): Promise<Renewal[]> {
    return this.guard(() =>
      this.sql<[string], { serial: string; issued_at: number }>('SELECT serial, issued_at FROM certificates WHERE renewed_from = ? ORDER BY issued_at, serial').all(serial).map((r) => ({ serial: r.serial, issuedAt: fromSeconds(r.issued_at) })),
    );
  }

  /**
   * The number, then the entries page by page with the event loop free between pages. One process writes this
   * file at a time (`ca serve` holds it; a `ca crl` beside it is the operator's own), so the pages need no shared
   * snapshot to keep later numbers listing at least as much.
   */
  async crlSnapshot(issuerKeyId: string, scope: CrlScope, onPage: (page: readonly RevokedCertificate[]) => void | Promise<void>): Promise<{ number: bigint; revocationSeq: number }> {
    const { number, revocationSeq } = this.guard(() =>
      this.db.transaction(() => ({ number: this.bumpCrlNumber.get(issuerKeyId, scope.numberAtLeast, scope.numberAtLeast)!.last_number, revocationSeq: this.sql<[], number | null>('SELECT MAX(seq) FROM revocation_log').pluck().get() ?? 0 })).immediate(),
    );
    const since = toSeconds(scope.notAfterSince);
    for (let after = ''; ; ) {
      // Rows as arrays (raw) read about twice as fast as rows as objects; this read runs once per CRL entry.
      const page = this.guard(() => this.selectRevokedBy.all(issuerKeyId, since, after, CRL_PAGE).map(([serial, revokedAt, reason]) => ({ serial, revokedAt: fromSeconds(revokedAt), reason })));
      if (page.length === 0) break;
      await onPage(page);
      after = page[page.length - 1]!.serial;
      if (page.length < CRL_PAGE) break;
    }
    return { number, revocationSeq };
  }

  async publishedCrl(issuerKeyId: string): Promise<StoredCrl | undefined> {
    return this.guard(() => {
      const row = this.sql<[string], CrlRow>("SELECT * FROM crls WHERE issuer_key_id = ? AND level = 'intermediate'").get(issuerKeyId);
      return row ? toStoredCrl(row) : undefined;
    });
  }

  async publishCrl(crl: StoredCrl): Promise<StoredCrl> {
    return this.guard(() =>
      this.db.transaction(() => {
        this.upsertCrl(crl);
        return toStoredCrl(this.sql<[string], CrlRow>('SELECT * FROM crls WHERE issuer_key_id = ?').get(crl.issuerKeyId)!);
      }).immediate(),
    );
  }

  /** Stores `crl` unless the store holds one of its issuer with a higher number. */
  private upsertCrl(crl: StoredCrl): void {
    this.sql(
      `INSERT INTO crls (issuer_key_id, level, number, der, this_update, next_update, revocation_seq) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (issuer_key_id) DO UPDATE SET number = excluded.number, der = excluded.der, this_update = excluded.this_update, next_update = excluded.next_update, revocation_seq = excluded.revocation_seq
       WHERE excluded.number > crls.number`,
    ).run(crl.issuerKeyId, crl.level, crl.number, crl.der, toSeconds(crl.thisUpdate), toSeconds(crl.nextUpdate), crl.revocationSeq);
  }

  async revocationsSince(sinceSeq: number): Promise<{ seq: number; serials: string[] | null }> {
    return this.guard(() => {
      const seq = (this.sql('SELECT MAX(seq) AS seq FROM revocation_log').get() as { seq: number | null }).seq ?? 0;
      if (seq <= sinceSeq) return { seq: sinceSeq, serials: [] };
      const rows = this.sql<[number, number], { serial: string }>('SELECT serial FROM revocation_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 10001').all(sinceSeq, seq);
      return { seq, serials: rows.length > 10_000 ? null : rows.map((r) => r.serial) };
    });
  }

  async revocationEvents(afterSeq: number, limit: number): Promise<RevocationEvent[]> {
    return this.guard(() =>
      this.sql<[number, number], { seq: number; serial: string; issuer_key_id: string; revoked_at: number; revocation_reason: RevocationReason | null; not_after: number }>(
        'SELECT l.seq, l.serial, c.issuer_key_id, l.revoked_at, c.revocation_reason, c.not_after FROM revocation_log l JOIN certificates c ON c.serial = l.serial WHERE l.seq > ? ORDER BY l.seq LIMIT ?',
      )
        .all(afterSeq, Math.floor(limit))
        .map((r) => ({ seq: r.seq, serial: r.serial, issuerKeyId: r.issuer_key_id, revokedAt: fromSeconds(r.revoked_at), reason: r.revocation_reason ?? 'unspecified', notAfter: fromSeconds(r.not_after) })),
    );
  }

  async lastLeafExpiry(issuerKeyId: string): Promise<Date | undefined> {
    return this.guard(() => {
      // Walks the notAfter index from the newest: a retired issuer's leaves are found within its successor's first day.
      const at = this.sql<[string], number>("SELECT not_after FROM certificates WHERE kind = 'leaf' AND issuer_key_id = ? ORDER BY not_after DESC LIMIT 1").pluck().get(issuerKeyId);
      return at === undefined ? undefined : fromSeconds(at);
    });
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    this.guard(() => this.db.transaction(() => this.audit(event)).immediate());
  }

  async appendAuditBatch(events: readonly AuditEvent[]): Promise<void> {
    if (events.length > 0) this.guard(() => this.db.transaction(() => events.forEach(this.audit)).immediate());
  }

  /** Walks the audit log's sealed chain from the first row (see audit-chain.ts). */
  async verifyAuditChain(): Promise<ChainVerdict> {
    // A page at a time, the event loop free between pages: a walk of a long log does not hold the service.
    const page = this.db.prepare<[number], ChainedRow>('SELECT id, at, actor, action, target, outcome, detail, prev_hash, hash FROM audit_log WHERE id > ? ORDER BY id LIMIT 1000');
    const guard = this.guard.bind(this);
    async function* rows(): AsyncGenerator<ChainedRow> {
      for (let after = 0; ; ) {
        const batch = guard(() => page.all(after));
        yield* batch;
        if (batch.length < 1000) return;
        after = batch[batch.length - 1]!.id;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const verdict = await verifyChain(rows(), this.sealKey);
    const counter = this.guard(() => this.sql<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() ?? 0);
    return chainReachesCounter(verdict, counter);
  }

  /** The last row's id and seal (hex), or undefined for an empty log: what a signed head publishes. */
  async auditHead(): Promise<{ id: number; seal: string } | undefined> {
    return this.guard(() => {
      const row = this.sql<[], { id: number; hash: Buffer }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1').get();
      return row ? { id: row.id, seal: Buffer.from(row.hash).toString('hex') } : undefined;
    });
  }

  /** The seal of row `id`, or undefined when there is no such row. */
  async auditSealOf(id: number): Promise<string | undefined> {
    return this.guard(() => {
      const hash = this.sql<[number], Buffer>('SELECT hash FROM audit_log WHERE id = ?').pluck().get(id);
      return hash ? Buffer.from(hash).toString('hex') : undefined;
    });
  }

  async auditLog(options: { limit?: number; after?: number; before?: number } = {}): Promise<AuditRecord[]> {
    // `before`: newest first, below that id; else oldest first, above `after`.
    const sql = options.before !== undefined
      ? `SELECT id, at, actor, action, target, outcome, detail FROM audit_log WHERE id < ? ORDER BY id DESC${options.limit ? ` LIMIT ${Math.floor(options.limit)}` : ''}`
      : `SELECT id, at, actor, action, target, outcome, detail FROM audit_log WHERE id > ? ORDER BY id${options.limit ? ` LIMIT ${Math.floor(options.limit)}` : ''}`;
    return this.guard(() => this.sql<[number], AuditRow>(sql).all(options.before ?? options.after ?? 0).map(toAuditRecord));
  }

  async caCertificates(): Promise<CertificateRecord[]> {
    return this.guard(() => this.sql<[], CertificateRow>("SELECT * FROM certificates WHERE kind <> 'leaf' ORDER BY not_before, serial").all().map(toRecord));
  }

  async recordIntermediate(record: CertificateRecord, audit: AuditEvent, replaces: string | null): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        const newest = this.sql<[], string>("SELECT serial FROM certificates WHERE kind <> 'leaf' AND kind = 'intermediate' ORDER BY not_before DESC, serial DESC LIMIT 1").pluck().get() ?? null;
        if (newest !== replaces) throw rotationConflict(newest);
        if (this.insertCertificate.run(toRow(record)).changes === 0) throw new CaError('ERR_ROTATION_FAILED', `store: intermediate ${record.serial} could not be recorded (its serial is taken)`);
        this.audit(audit);
      }).immediate(),
    );
  }

  async rootCrl(): Promise<StoredCrl | undefined> {
    return this.guard(() => {
      const row = this.sql<[], CrlRow>("SELECT * FROM crls WHERE level = 'root' ORDER BY number DESC LIMIT 1").get();
      return row ? toStoredCrl(row) : undefined;
    });
  }

  async saveRootCrl(crl: StoredCrl, audit: AuditEvent): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        this.upsertCrl(crl);
        this.audit(audit);
      }).immediate(),
    );
  }

  async fingerprint(name: string): Promise<string | undefined> {
    return this.guard(() => this.sql<[string], string>('SELECT value FROM fingerprints WHERE name = ?').pluck().get(name));
  }

  async recordFingerprint(name: string, value: string): Promise<string> {
    return this.guard(() =>
      this.db.transaction(() => {
        this.sql('INSERT INTO fingerprints (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, value);
        return this.sql<[string], string>('SELECT value FROM fingerprints WHERE name = ?').pluck().get(name)!;
      }).immediate(),
    );
  }

  async createApiKey(record: ApiKeyRecord, audit: AuditEvent): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        // An expired key frees its name: it is marked revoked as of its expiry (and resealed) to make room.
        for (const old of this.sql<[string, number], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL AND expires_at <= ?').all(record.name, toSeconds(record.createdAt))) {
          const retired = revokedApiKeyRow(old, old.expires_at, this.sealKey);
          this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(retired.revoked_at, retired.seal, old.id);
        }
        const taken = this.sql('SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(record.name);
        if (taken) throw new CaError('ERR_APIKEY_NAME_TAKEN', `auth: an active API key is already named "${record.name}" (revoke it first)`);
        this.insertApiKey(newApiKeyRow(record, this.sealKey));
        this.audit(audit);
      }).immediate(),
    );
  }

  private insertApiKey(row: ApiKeyRow): void {
    this.sql('INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at, seal) VALUES (?, ?, ?, ?, ?, ?, ?)').run(row.id, row.name, row.secret_hash, row.scopes, row.created_at, row.expires_at, row.seal);
  }

  async findApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.guard(() => {
      const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
      return row ? toApiKey(row, this.sealKey) : undefined;
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.guard(() => this.sql<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, name').all().map((r) => toApiKey(r, this.sealKey)));
  }

  async revokeApiKey(name: string, at: Date, audit: AuditEvent): Promise<ApiKeyRecord | undefined> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(name);
        if (!row) return undefined;
        const revoked = revokedApiKeyRow(row, toSeconds(at), this.sealKey);
        this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(revoked.revoked_at, revoked.seal, row.id);
        // A predecessor still in its rotation grace goes too: revoking a name ends every secret it has.
        for (const old of this.sql<[string, number], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at > ?').all(name, toSeconds(at))) {
          const ended = revokedApiKeyRow(old, toSeconds(at), this.sealKey);
          this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(ended.revoked_at, ended.seal, old.id);
        }
        this.audit(audit);
        return toApiKey(revoked, this.sealKey);
      }).immediate(),
    );
  }

  async rotateApiKey(name: string, next: (old: ApiKeyRecord) => ApiKeyRecord, graceEndsAt: Date, audit: (old: ApiKeyRecord, next: ApiKeyRecord) => AuditEvent): Promise<{ old: ApiKeyRecord; next: ApiKeyRecord } | undefined> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(name);
        if (!row) return undefined;
        const old = toApiKey(row, this.sealKey);
        if (!old.intact) throw new CaError('ERR_APIKEY_INVALID', `auth: API key "${name}" was changed outside meshca (its seal does not match); revoke it and create a new one`);
        const record = next(old);
        // An expired key is not "the active key": rotating it would bring its scopes back to life.
        if (old.expiresAt <= record.createdAt) throw new CaError('ERR_APIKEY_EXPIRED', `auth: API key "${name}" expired at ${old.expiresAt.toISOString()}; create a new one with ca apikey create`);
        // The old key's end of grace is its revocation time (never later than its own expiry): it frees the name.
        const retired = revokedApiKeyRow(row, Math.min(toSeconds(graceEndsAt), row.expires_at), this.sealKey);
        this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(retired.revoked_at, retired.seal, row.id);
        this.insertApiKey(newApiKeyRow(record, this.sealKey));
        const oldAfter = toApiKey(retired, this.sealKey);
        this.audit(audit(oldAfter, record));
        return { old: oldAfter, next: record };
      }).immediate(),
    );
  }

  async touchApiKey(id: string, at: Date): Promise<void> {
    this.guard(() => this.sql('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(toSeconds(at), id));
  }

  /**
   * A consistent copy of the database at `path` while it is in use (SQLite's online backup: pages copied in steps,
   * restarted when a writer changes a page already copied), made 0600 before anything is written.
   */
  async backup(path: string, progress?: (done: number, total: number) => void): Promise<void> {
    try {
      await this.db.backup(path, { progress: ({ totalPages, remainingPages }) => (progress?.(totalPages - remainingPages, totalPages), 256) });
    } catch (e) {
      throw storeError(e, path);
    }
  }

  /** Closes the database, checkpointing the WAL. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async recordRenewalAdvice(advice: Omit<RenewalAdvice, 'id'>, audit: AuditEvent): Promise<RenewalAdvice> {
    return this.guard(() =>
      this.db.transaction(() => {
        const r = toAdviceRow(advice);
        const id = Number(
          this.sql('INSERT INTO renewal_advice (created_at, actor, selector, serial, identity, issued_before, window_start, window_end, explanation_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
            .run(r.created_at, r.actor, r.selector, r.serial, r.identity, r.issued_before, r.window_start, r.window_end, r.explanation_url).lastInsertRowid,
        );
        this.audit(adviceAudit(audit, id));
        return { ...advice, id };
      }).immediate(),
    );
  }

  async renewalAdviceSince(afterId: number, limit: number): Promise<RenewalAdvice[]> {
    return this.guard(() => this.sql<[number, number], AdviceRow>('SELECT * FROM renewal_advice WHERE id > ? ORDER BY id LIMIT ?').all(afterId, Math.max(0, Math.floor(limit))).map(toAdvice));
  }

  async activeRenewalAdvice(createdSince: Date): Promise<RenewalAdvice[]> {
    return this.guard(() => this.sql<[number], AdviceRow>('SELECT * FROM renewal_advice WHERE created_at >= ? ORDER BY id').all(toSeconds(createdSince)).map(toAdvice));
  }

  async leavesRelatedTo(serials: readonly string[], subjectKeyHashes: readonly string[]): Promise<CertificateRecord[]> {
    return this.guard(() => {
      const found = new Map<string, CertificateRow>();
      // One IN list per column and chunk, so each lookup runs on its own index.
      for (const [column, values] of [['renewed_from', serials], ['subject_key_hash', subjectKeyHashes]] as const) {
        for (const chunk of chunked(values)) {
          const rows = this.sql<string[], CertificateRow>(`SELECT * FROM certificates WHERE ${column} IN (${chunk.map(() => '?').join(', ')}) AND kind = 'leaf'`).all(...chunk);
          for (const row of rows) found.set(row.serial, row);
        }
      }
      return [...found.values()].sort((a, b) => (a.serial < b.serial ? -1 : 1)).map(toRecord);
    });
  }

  async recordRevocations(serials: readonly string[], revokedAt: Date, reason: RevocationReason, audit: (serial: string) => AuditEvent, options: { readonly blockKeysOf?: readonly string[] } = {}): Promise<BulkRevocationOutcome> {
    return this.guard(() =>
      this.db.transaction((): BulkRevocationOutcome => {
        const at = toSeconds(revokedAt);
        const outcome: BulkRevocationOutcome = { revoked: [], alreadyRevoked: [], notFound: [], keysBlocked: [] };
        for (const serial of new Set(serials)) {
          // The update decides, in the transaction: a racing revocation of the same serial makes this one already-revoked.
          if (this.sql("UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND kind = 'leaf' AND revoked_at IS NULL").run(at, reason, serial).changes === 1) {
            this.logRevocation.run(serial, at);
            this.audit(audit(serial));
            outcome.revoked.push(serial);
          } else if (this.sql<[string]>("SELECT 1 FROM certificates WHERE serial = ? AND kind = 'leaf'").get(serial) !== undefined) outcome.alreadyRevoked.push(serial);
          else outcome.notFound.push(serial);
        }
        const blocked = new Set<string>();
        for (const serial of options.blockKeysOf ?? []) {
          const hash = this.sql<[string], string>("SELECT subject_key_hash FROM certificates WHERE serial = ? AND kind = 'leaf'").pluck().get(serial);
          if (hash === undefined || blocked.has(hash)) continue;
          blocked.add(hash);
          if (this.sql('INSERT INTO blocked_keys (subject_key_hash, blocked_at, serial) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(hash, at, serial).changes > 0) {
            const { at: when, actor } = audit(serial);
            this.audit({ at: when, actor, action: 'key-block', target: serial, outcome: 'ok', detail: { subjectKeyHash: hash } });
          }
        }
        outcome.keysBlocked.push(...blocked);
        return outcome;
      }).immediate(),
    );
  }

  async successorsOf(serials: readonly string[]): Promise<Map<string, string[]>> {
    return this.guard(() => {
      const successors = new Map<string, string[]>(serials.map((s) => [s, []]));
      for (const chunk of chunked(serials)) {
        const rows = this.sql<string[], { serial: string; renewed_from: string }>(`SELECT serial, renewed_from FROM certificates WHERE renewed_from IN (${chunk.map(() => '?').join(', ')}) ORDER BY issued_at, serial`).all(...chunk);
        for (const row of rows) successors.get(row.renewed_from)!.push(row.serial);
      }
      return successors;
    });
  }

  async createEabKey(record: EabKeyRecord, audit: AuditEvent): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        if (this.sql('SELECT 1 FROM acme_eab_keys WHERE name = ? AND revoked_at IS NULL').get(record.name)) throw eabNameTaken(record.name);
        this.sql('INSERT INTO acme_eab_keys (kid, name, scopes, sealed_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)').run(record.kid, record.name, JSON.stringify(record.scopes), record.sealedKey, toSeconds(record.createdAt), toSeconds(record.expiresAt));
        this.audit(audit);
      }).immediate(),
    );
  }

  async findEabKey(kid: string): Promise<EabKeyRecord | undefined> {
    return this.one('SELECT * FROM acme_eab_keys WHERE kid = ?', kid, toEabKey);
  }

  async listEabKeys(): Promise<EabKeyRecord[]> {
    return this.guard(() => this.sql<[], EabKeyRow>('SELECT * FROM acme_eab_keys ORDER BY created_at DESC, kid').all().map(toEabKey));
  }

  async revokeEabKey(name: string, at: Date, audit: AuditEvent): Promise<EabKeyRecord | undefined> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], EabKeyRow>('SELECT * FROM acme_eab_keys WHERE name = ? AND revoked_at IS NULL').get(name);
        if (!row) return undefined;
        this.sql('UPDATE acme_eab_keys SET revoked_at = ? WHERE kid = ?').run(toSeconds(at), row.kid);
        this.audit(audit);
        return toEabKey({ ...row, revoked_at: toSeconds(at) });
      }).immediate(),
    );
  }

  /** One process owns a SQLite CA: spent nonces live in a TEMP table in memory (no fsync per ACME request). */
  readonly spentNoncesDurable = false;

  async spendNonce(nonce: string, expiresAt: Date, now: Date): Promise<boolean> {
    return this.guard(() => {
      const spent = this.sql('INSERT OR IGNORE INTO temp.acme_spent_nonces (nonce, expires_at) VALUES (?, ?)').run(nonce, toSeconds(expiresAt)).changes === 1;
      // Expired ones go a few at a time, with the requests that spend the others.
      this.sql('DELETE FROM temp.acme_spent_nonces WHERE rowid IN (SELECT rowid FROM temp.acme_spent_nonces WHERE expires_at <= ? LIMIT 16)').run(toSeconds(now));
      return spent;
    });
  }

  async createAcmeAccount(account: AcmeAccountRecord, audit: AuditEvent): Promise<{ account: AcmeAccountRecord; created: boolean }> {
    return this.guard(() =>
      this.db.transaction(() => {
        const existing = this.sql<[string], AcmeAccountRow>('SELECT * FROM acme_accounts WHERE thumbprint = ?').get(account.thumbprint);
        if (existing) return { account: toAcmeAccount(existing), created: false };
        this.sql('INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(account.id, account.thumbprint, account.jwk, account.status, JSON.stringify(account.contact), account.eabKid, toSeconds(account.createdAt));
        this.sql('UPDATE acme_eab_keys SET last_used_at = ? WHERE kid = ?').run(toSeconds(account.createdAt), account.eabKid);
        this.audit(audit);
        return { account, created: true };
      }).immediate(),
    );
  }

  async findAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined> {
    return this.one('SELECT * FROM acme_accounts WHERE id = ?', id, toAcmeAccount);
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined> {
    return this.one('SELECT * FROM acme_accounts WHERE thumbprint = ?', thumbprint, toAcmeAccount);
  }

  async updateAcmeAccount(id: string, change: Partial<Pick<AcmeAccountRecord, 'contact' | 'status' | 'jwk' | 'thumbprint'>>, audit: AuditEvent, fromThumbprint?: string): Promise<AcmeAccountRecord | undefined> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], AcmeAccountRow>('SELECT * FROM acme_accounts WHERE id = ?').get(id);
        if (!row) return undefined;
        if (fromThumbprint !== undefined && row.thumbprint !== fromThumbprint) throw acmeKeyChanged();
        if (change.thumbprint !== undefined && this.sql<[string, string]>('SELECT 1 FROM acme_accounts WHERE thumbprint = ? AND id <> ?').get(change.thumbprint, id)) throw acmeKeyInUse();
        const next = { ...toAcmeAccount(row), ...change };
        this.sql('UPDATE acme_accounts SET thumbprint = ?, jwk = ?, status = ?, contact = ? WHERE id = ?').run(next.thumbprint, next.jwk, next.status, JSON.stringify(next.contact), id);
        this.audit(audit);
        return next;
      }).immediate(),
    );
  }

  async createAcmeOrder(order: AcmeOrderRecord, authorizations: readonly AcmeAuthorizationRecord[], challenges: readonly AcmeChallengeRecord[], audit: AuditEvent, maxOpen?: number): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        if (maxOpen !== undefined) {
          const open = this.sql<[string, number], { n: number }>("SELECT COUNT(*) AS n FROM acme_orders WHERE account_id = ? AND status IN ('pending', 'ready', 'processing') AND expires_at > ?").get(order.accountId, toSeconds(order.createdAt))!.n;
          if (open >= maxOpen) throw acmeTooManyOrders(maxOpen);
        }
        this.sql('INSERT INTO acme_orders (id, account_id, status, identifiers, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)').run(order.id, order.accountId, order.status, JSON.stringify(order.identifiers), toSeconds(order.createdAt), toSeconds(order.expiresAt));
        for (const a of authorizations) this.sql('INSERT INTO acme_authorizations (id, order_id, account_id, identifier_type, identifier_value, status, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(a.id, a.orderId, a.accountId, a.identifier.type, a.identifier.value, a.status, toSeconds(a.expiresAt));
        for (const c of challenges) this.sql('INSERT INTO acme_challenges (id, authorization_id, type, token, status) VALUES (?, ?, ?, ?, ?)').run(c.id, c.authorizationId, c.type, c.token, c.status);
        this.audit(audit);
      }).immediate(),
    );
  }

  async findAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined> {
    return this.one('SELECT * FROM acme_orders WHERE id = ?', id, toAcmeOrder);
  }

  async acmeOrderOfCertificate(serial: string): Promise<AcmeOrderRecord | undefined> {
    return this.one('SELECT * FROM acme_orders WHERE certificate_serial = ?', serial, toAcmeOrder);
  }

  async pruneAcmeOrders(before: Date, limit: number): Promise<number> {
    return this.guard(() =>
      this.db.transaction(() => {
        const ids = this.sql<[number, number], { id: string }>('SELECT id FROM acme_orders WHERE certificate_serial IS NULL AND expires_at < ? LIMIT ?').all(toSeconds(before), Math.floor(limit)).map((r) => r.id);
        for (const id of ids) {
          this.sql('DELETE FROM acme_challenges WHERE authorization_id IN (SELECT id FROM acme_authorizations WHERE order_id = ?)').run(id);
          this.sql('DELETE FROM acme_authorizations WHERE order_id = ?').run(id);
          this.sql('DELETE FROM acme_orders WHERE id = ?').run(id);
        }
        return ids.length;
      }).immediate(),
    );
  }

  async listAcmeOrders(accountId: string, limit: number): Promise<AcmeOrderRecord[]> {
    return this.guard(() => this.sql<[string, number], AcmeOrderRow>('SELECT * FROM acme_orders WHERE account_id = ? ORDER BY created_at DESC, id LIMIT ?').all(accountId, Math.floor(limit)).map(toAcmeOrder));
  }

  async updateAcmeOrder(id: string, change: Partial<Pick<AcmeOrderRecord, 'status' | 'error' | 'certificateSerial'>>, from?: AcmeOrderRecord['status']): Promise<AcmeOrderRecord | undefined> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], AcmeOrderRow>('SELECT * FROM acme_orders WHERE id = ?').get(id);
        if (!row || (from !== undefined && row.status !== from)) return undefined;
        const next = { ...toAcmeOrder(row), ...change };
        this.sql('UPDATE acme_orders SET status = ?, error = ?, certificate_serial = ? WHERE id = ?').run(next.status, next.error, next.certificateSerial, id);
        return next;
      }).immediate(),
    );
  }

  async findAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined> {
    return this.one('SELECT * FROM acme_authorizations WHERE id = ?', id, toAcmeAuthorization);
  }

  async acmeAuthorizationsOf(orderId: string): Promise<AcmeAuthorizationRecord[]> {
    return this.guard(() => this.sql<[string], AcmeAuthorizationRow>('SELECT * FROM acme_authorizations WHERE order_id = ? ORDER BY id').all(orderId).map(toAcmeAuthorization));
  }

  async updateAcmeAuthorization(id: string, status: AcmeAuthorizationRecord['status']): Promise<void> {
    this.guard(() => this.sql('UPDATE acme_authorizations SET status = ? WHERE id = ?').run(status, id));
  }

  async findAcmeChallenge(id: string): Promise<AcmeChallengeRecord | undefined> {
    return this.one('SELECT * FROM acme_challenges WHERE id = ?', id, toAcmeChallenge);
  }

  async acmeChallengesOf(authorizationId: string): Promise<AcmeChallengeRecord[]> {
    return this.guard(() => this.sql<[string], AcmeChallengeRow>('SELECT * FROM acme_challenges WHERE authorization_id = ? ORDER BY type').all(authorizationId).map(toAcmeChallenge));
  }

  async settleAcmeChallenge(target: { challengeId: string; authorizationId: string; orderId: string }, outcome: { valid: true; at: Date } | { valid: false; error: string }): Promise<boolean> {
    return this.guard(() =>
      this.db.transaction(() => {
        const status = outcome.valid ? 'valid' : 'invalid';
        const settled = this.sql("UPDATE acme_challenges SET status = ?, validated_at = ?, error = ? WHERE id = ? AND status = 'processing'").run(status, outcome.valid ? toSeconds(outcome.at) : null, outcome.valid ? null : outcome.error, target.challengeId).changes === 1;
        if (!settled) return false;
        this.sql('UPDATE acme_authorizations SET status = ? WHERE id = ?').run(status, target.authorizationId);
        if (!outcome.valid) this.sql("UPDATE acme_orders SET status = 'invalid', error = ? WHERE id = ? AND status = 'pending'").run(outcome.error, target.orderId);
        else this.sql("UPDATE acme_orders SET status = 'ready' WHERE id = ? AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM acme_authorizations WHERE order_id = ? AND status <> 'valid')").run(target.orderId, target.orderId);
        return true;
      }).immediate(),
    );
  }

  async updateAcmeChallenge(id: string, change: Partial<Pick<AcmeChallengeRecord, 'status' | 'validatedAt' | 'error'>>, from?: AcmeChallengeRecord['status']): Promise<boolean> {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], AcmeChallengeRow>('SELECT * FROM acme_challenges WHERE id = ?').get(id);
        if (!row || (from !== undefined && row.status !== from)) return false;
        const next = { ...toAcmeChallenge(row), ...change };
        this.sql('UPDATE acme_challenges SET status = ?, validated_at = ?, error = ? WHERE id = ?').run(next.status, next.validatedAt === null ? null : toSeconds(next.validatedAt), next.error, id);
        return true;
      }).immediate(),
    );
  }
}

/** What a migration's data step may use: the audit seal key, for the rows it writes or reseals. */
interface MigrationContext {
  readonly sealKey: Buffer;
  /** True when the audit key was made just now: only then may rows from before it be sealed (migration 006). */
  readonly auditKeyFresh: boolean;
}

/** The first migration that seals rows with the audit key; a database older than it may be sealed only by a new key. */
export const FIRST_SEALED_VERSION = 6;

/** Data steps SQL cannot express, run in the same transaction as their migration. */
const AFTER_MIGRATION: Record<number, (db: Database.Database, ctx: MigrationContext) => void> = {
  // 005_audit_chain: chain the rows written before the chain existed, oldest first (unkeyed; 006 keys it).
  5: (db) => {
    const update = db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?');
    let prev: Buffer = GENESIS;
    for (const row of db.prepare<[], ChainedRow>('SELECT * FROM audit_log ORDER BY id').all()) {
      const hash = legacyRowHash(prev, row);
      update.run(prev, hash, row.id);
      prev = hash;
    }
  },
  // 006_keyed_audit: reseal every row with the audit key, and record what the unkeyed chain looked like then.
  6: (db, { sealKey }) => {
    const rows = db.prepare<[], ChainedRow>('SELECT * FROM audit_log ORDER BY id').all();
    if (rows.length === 0) return;
    const legacy = legacyChainProblem(rows);
    const update = db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?');
    let prev: Buffer = GENESIS;
    for (const row of rows) {
      const seal = sealRow(sealKey, prev, row);
      update.run(prev, seal, row.id);
      prev = seal;
    }
    auditAppender(db, sealKey)({ at: new Date(), actor: 'system:migrate', action: 'audit-chain-keyed', target: null, outcome: 'ok', detail: { rows: rows.length, unkeyedChain: legacy ?? 'intact' } });
  },
  // 007_typed_scopes: every stored issue: scope becomes the typed form its glob implies; one no type fits is dropped.
  7: (db, { sealKey }) => {
    const audit = auditAppender(db, sealKey);
    const update = db.prepare('UPDATE api_keys SET scopes = ? WHERE id = ?');
    for (const key of db.prepare<[], { id: string; name: string; scopes: string }>('SELECT id, name, scopes FROM api_keys ORDER BY created_at, id').all()) {
      const from = JSON.parse(key.scopes) as string[];
      const to: string[] = [];
      const dropped: string[] = [];
      for (const text of from) {
        try {
          to.push(parseScope(text).text);
        } catch {
          dropped.push(text);
        }
      }
      if (to.length === from.length && to.every((t, i) => t === from[i])) continue;
      update.run(JSON.stringify([...new Set(to)]), key.id);
      audit({ at: new Date(), actor: 'system:migrate', action: 'apikey-scopes-typed', target: `apikey:${key.name}`, outcome: 'ok', detail: { id: key.id, from, to, dropped } });
    }
  },
  // 008_key_lineage: the key hash of every stored certificate, and an issuance time (notBefore, for older rows).
  8: (db) => {
    const update = db.prepare('UPDATE certificates SET subject_key_hash = ?, issued_at = not_before WHERE serial = ?');
    for (const row of db.prepare<[], { serial: string; der: Buffer }>('SELECT serial, der FROM certificates').all()) update.run(subjectKeyHash(readCertificate(row.der).spki), row.serial);
  },
  // 009_api_key_seals: seal every stored key as it stands (a key left with no scope by 007 is revoked first).
  9: (db, { sealKey }) => {
    const audit = auditAppender(db, sealKey);
    const update = db.prepare('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?');
    const now = Math.floor(Date.now() / 1000);
    for (const row of db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id').all()) {
      const emptied = row.revoked_at === null && (JSON.parse(row.scopes) as unknown[]).length === 0;
      const sealed = emptied ? { ...row, revoked_at: now } : row;
      update.run(sealed.revoked_at, apiKeySeal(sealKey, sealed), row.id);
      if (emptied) audit({ at: new Date(now * 1000), actor: 'system:migrate', action: 'apikey-revoke', target: `apikey:${row.name}`, outcome: 'ok', detail: { id: row.id, why: 'no scope was left after typing its scopes' } });
    }
  },
};

/** Applies every numbered migration newer than the database's version, each in its own transaction. */
function migrate(db: Database.Database, ctx: MigrationContext): { version: number; upgraded: { from: number; to: number } | undefined } {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const latest = Number(files.at(-1)?.slice(0, 3) ?? 0);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  if (current > latest) {
    throw new CaError('ERR_STORE_TOO_NEW', `store: the database schema (version ${current}) is newer than this meshca understands (${latest}); upgrade meshca`);
  }
  const core = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('certificates', 'audit_log')").get() as { n: number };
  if (current > 0 && core.n !== 2) throw new CaError('ERR_STORE_CORRUPT', 'store: the database records meshca migrations but lacks meshca tables');
  if (current > 0 && current < FIRST_SEALED_VERSION && latest >= FIRST_SEALED_VERSION && !ctx.auditKeyFresh) {
    // Sealing it now would launder whatever was done to it: someone who can write ca.db can roll its schema back
    // and rebuild the unkeyed chain of 005 after editing rows.
    throw new CaError('ERR_AUDIT_TAMPERED', `store: the database is at schema ${current}, older than its audit key: it was rolled back or replaced since it was sealed, and meshca will not seal it again (if you restored a backup from before the audit key existed, move private/audit.key away first)`);
  }
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    if (version <= current) continue;
    const sql = readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8');
    db.transaction(() => {
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (done) return;
      db.exec(sql);
      AFTER_MIGRATION[version]?.(db, ctx);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, Math.floor(Date.now() / 1000));
    }).immediate();
  }
  return { version: latest, upgraded: current > 0 && current < latest ? { from: current, to: latest } : undefined };
}

/** The schema version of the SQLite database at `path`, read without changing it (0 when it has none). */
export function sqliteSchemaVersion(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], number | null>('SELECT MAX(version) FROM schema_migrations').pluck().get() ?? 0;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/**
 * Opens (or with `create`, creates) the CA database: WAL journal, `synchronous=FULL` so an acknowledged write
 * survives power loss as well as a killed process, a busy timeout so parallel `ca` processes queue instead of
 * failing. A new database file is made 0600 before anything is written (SQLite gives its -wal and -shm files the
 * same mode). `sealKey` seals audit rows (see `auditSealKey`).
 */
export function openSqliteStore(path: string, options: { create?: boolean; sealKey: Buffer; auditKeyFresh?: boolean }): SqliteCertificateStore {
  if (!options.create && path !== ':memory:' && !existsSync(path)) {
    throw new CaError('ERR_STORE_MISSING', `store: database ${path} is missing (was the CA directory created with \`ca init\`?)`);
  }
  let db: Database.Database | undefined;
  try {
    const fresh = path !== ':memory:' && !existsSync(path);
    db = new Database(path, { fileMustExist: !options.create });
    if (fresh) chmodSync(path, 0o600);
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Reads through a memory map (no read() call per page) for the first 128 MiB: cold CRL builds read every
    // revoked entry once. Mapped pages count in RSS, so the map stays small.
    db.pragma('mmap_size = 134217728');
    // Temporary tables (the spent ACME nonces) in memory: never on disk, never synced.
    db.pragma('temp_store = MEMORY');
    db.exec('CREATE TEMP TABLE IF NOT EXISTS acme_spent_nonces (nonce TEXT NOT NULL PRIMARY KEY, expires_at INTEGER NOT NULL)');
    // meshca creates no triggers or views: one found was added outside meshca, e.g. to drop audit rows as they are written.
    const foreign = db.prepare<[], { type: string; name: string }>("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')").all();
    if (foreign.length > 0) {
      throw new CaError('ERR_AUDIT_TAMPERED', `store: ${path} holds ${foreign.map((f) => `${f.type} "${f.name}"`).join(', ')}, which meshca never creates: the database was changed outside meshca; refusing to use it`);
    }
    const { version, upgraded } = migrate(db, { sealKey: options.sealKey, auditKeyFresh: options.auditKeyFresh ?? path === ':memory:' });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('certificates', 'audit_log', 'crl_numbers', 'api_keys', 'used_tokens', 'revocation_log', 'blocked_keys', 'crls', 'fingerprints', 'renewal_advice', 'acme_eab_keys', 'acme_accounts', 'acme_orders', 'acme_authorizations', 'acme_challenges')").all();
    if (tables.length !== 15) throw new CaError('ERR_STORE_CORRUPT', `store: ${path} is missing meshca tables`);
    const store = new SqliteCertificateStore(db, path, options.sealKey);
    store.upgraded = upgraded;
    store.schemaVersion = version;
    return store;
  } catch (e) {
    db?.close();
    throw storeError(e, path);
  }
}
