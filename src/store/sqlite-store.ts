// The CertificateStore port on better-sqlite3: WAL, synchronous=FULL, forward-only numbered migrations.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ApiKeyRecord, ApiKeyStore } from '../auth/ports.js';
import { parseScope } from '../auth/scopes.js';
import type { AuditEvent, AuditRecord, CertificateKind, CertificateQuery, CertificateRecord, CertificateStore, IssuedEntry, IssuedOutcome, Renewal, RevocationOutcome, RevokedCertificate, SpentToken } from '../authority/ports.js';
import { subjectKeyHash } from '../crypto/keys.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { GENESIS, legacyChainProblem, legacyRowHash, sealRow, verifyChain, type ChainedRow, type ChainVerdict } from './audit-chain.js';
import type { RevocationReason } from '../revocation/reasons.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

interface CertificateRow {
  serial: string;
  kind: CertificateKind;
  issuer_key_id: string;
  common_name: string;
  spiffe_id: string | null;
  dns_names: string;
  ip_addresses: string;
  not_before: number;
  not_after: number;
  der: Buffer;
  revoked_at: number | null;
  revocation_reason: RevocationReason | null;
  subject_key_hash: string;
  renewed_from: string | null;
  issued_at: number;
}

interface ApiKeyRow {
  id: string;
  name: string;
  secret_hash: Buffer;
  scopes: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
  seal: Buffer | null;
}

/**
 * The seal of an API key row: HMAC under the audit seal key over everything that says what the key may do and
 * whether it still may (not its last use). A key inserted, widened, extended or un-revoked by someone who can
 * write ca.db but not read private/ does not match it.
 */
function apiKeySeal(sealKey: Buffer, r: Pick<ApiKeyRow, 'id' | 'name' | 'secret_hash' | 'scopes' | 'created_at' | 'expires_at' | 'revoked_at'>): Buffer {
  return createHmac('sha256', sealKey).update(JSON.stringify(['api-key', r.id, r.name, Buffer.from(r.secret_hash).toString('hex'), r.scopes, r.created_at, r.expires_at, r.revoked_at])).digest();
}

function toApiKey(r: ApiKeyRow, sealKey: Buffer): ApiKeyRecord {
  const seal = apiKeySeal(sealKey, r);
  return {
    intact: r.seal !== null && r.seal.length === seal.length && timingSafeEqual(r.seal, seal),
    id: r.id,
    name: r.name,
    secretHash: r.secret_hash,
    scopes: JSON.parse(r.scopes) as string[],
    createdAt: fromSeconds(r.created_at),
    expiresAt: fromSeconds(r.expires_at),
    revokedAt: r.revoked_at === null ? null : fromSeconds(r.revoked_at),
    lastUsedAt: r.last_used_at === null ? null : fromSeconds(r.last_used_at),
  };
}

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditEvent['outcome'];
  detail: string | null;
}

/** Thrown inside a transaction to roll it back when a serial collides. */
class SerialTaken extends Error {}

const toSeconds = (d: Date): number => Math.floor(d.getTime() / 1000);
const fromSeconds = (s: number): Date => new Date(s * 1000);

function toRecord(r: CertificateRow): CertificateRecord {
  return {
    serial: r.serial,
    kind: r.kind,
    issuerKeyId: r.issuer_key_id,
    commonName: r.common_name,
    spiffeId: r.spiffe_id,
    dnsNames: JSON.parse(r.dns_names) as string[],
    ipAddresses: JSON.parse(r.ip_addresses) as string[],
    notBefore: fromSeconds(r.not_before),
    notAfter: fromSeconds(r.not_after),
    der: r.der,
    revokedAt: r.revoked_at === null ? null : fromSeconds(r.revoked_at),
    reason: r.revocation_reason,
    subjectKeyHash: r.subject_key_hash,
    renewedFrom: r.renewed_from,
    issuedAt: fromSeconds(r.issued_at),
  };
}

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
    const row = { id: (last.seq ?? 0) + 1, at: toSeconds(event.at), actor: event.actor, action: event.action, target: event.target, outcome: event.outcome, detail: event.detail === undefined ? null : JSON.stringify(event.detail) };
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

/** The CA's storage on better-sqlite3: certificates, revocations, CRL numbers, credentials, audit log. */
export class SqliteCertificateStore implements CertificateStore, ApiKeyStore {
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
      `INSERT INTO certificates (serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason, subject_key_hash, renewed_from, issued_at)
       VALUES (@serial, @kind, @issuer_key_id, @common_name, @spiffe_id, @dns_names, @ip_addresses, @not_before, @not_after, @der, @revoked_at, @revocation_reason, @subject_key_hash, @renewed_from, @issued_at)
       ON CONFLICT (serial) DO NOTHING`,
    );
    this.audit = auditAppender(db, sealKey);
    this.selectBySerial = db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE serial = ?');
    this.markRevoked = db.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL');
    this.bumpCrlNumber = db.prepare<[string], { last_number: number }>(
      `INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)
       ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = last_number + 1 RETURNING last_number`,
    );
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

  recordIssued(record: CertificateRecord, audit: AuditEvent, spendToken?: SpentToken): IssuedOutcome {
    return this.recordIssuedBatch([{ record, audit, spendToken }])[0]!;
  }

  /**
   * One durable transaction (one fsync) for many issuances. Each entry runs in its own savepoint, so a taken
   * serial or a spent token undoes only that entry; the others commit together.
   */
  recordIssuedBatch(entries: readonly IssuedEntry[]): IssuedOutcome[] {
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
    this.recordOneTx ??= this.db.transaction(({ record, audit, spendToken, renewalGraceSeconds }: IssuedEntry): 'recorded' | 'token-spent' | 'key-blocked' | 'renewal-forked' => {
      // Checked in the transaction that stores the leaf, so a racing keyCompromise or a second renewal cannot slip between.
      if (this.isKeyBlocked(record.subjectKeyHash)) return 'key-blocked';
      // Earlier successors of the same predecessor: past the grace a new one would fork the lineage. Within it, a
      // successor for another key (a rekey repeat, or a thief's rekey) is replaced: revoked as superseded together
      // with everything renewed from it since, so no branch outlives the repeat. Successors for the same key (a
      // retry that raced the first) are the same holder's and stay valid: revoking one could strand the client
      // that received it.
      let superseded: string[] = [];
      if (record.renewedFrom !== null) {
        const first = this.sql<[string], number | null>('SELECT MIN(issued_at) FROM certificates WHERE renewed_from = ?').pluck().get(record.renewedFrom);
        if (first !== null && first !== undefined && toSeconds(record.issuedAt) - first > (renewalGraceSeconds ?? 0)) return 'renewal-forked';
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
      const inserted = this.insertCertificate.run({
        serial: record.serial,
        kind: record.kind,
        issuer_key_id: record.issuerKeyId,
        common_name: record.commonName,
        spiffe_id: record.spiffeId,
        dns_names: JSON.stringify(record.dnsNames),
        ip_addresses: JSON.stringify(record.ipAddresses),
        not_before: toSeconds(record.notBefore),
        not_after: toSeconds(record.notAfter),
        der: record.der,
        revoked_at: record.revokedAt === null ? null : toSeconds(record.revokedAt),
        revocation_reason: record.reason,
        subject_key_hash: record.subjectKeyHash,
        renewed_from: record.renewedFrom,
        issued_at: toSeconds(record.issuedAt),
      });
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

  findBySerial(serial: string): CertificateRecord | undefined {
    return this.guard(() => {
      const row = this.selectBySerial.get(serial);
      return row ? toRecord(row) : undefined;
    });
  }

  list(query: CertificateQuery): CertificateRecord[] {
    const { where, params } = this.filter(query);
    const sql = `SELECT * FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, serial${query.limit ? ` LIMIT ${Math.floor(query.limit)}` : ''}`;
    return this.guard(() => this.sql<(string | number)[], CertificateRow>(sql).all(...params).map(toRecord));
  }

  count(query: CertificateQuery): number {
    const { where, params } = this.filter(query);
    const sql = `SELECT COUNT(*) FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
    return this.guard(() => this.sql<(string | number)[], number>(sql).pluck().get(...params) ?? 0);
  }

  private filter(query: CertificateQuery): { where: string[]; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const now = toSeconds(query.now);
    if (query.kind) {
      where.push('kind = ?');
      params.push(query.kind);
    }
    if (query.status === 'revoked') where.push('revoked_at IS NOT NULL');
    if (query.status === 'expired') {
      where.push('revoked_at IS NULL AND not_after <= ?');
      params.push(now);
    }
    if (query.status === 'valid' || query.expiringWithinSeconds !== undefined) {
      where.push('revoked_at IS NULL AND not_after > ?');
      params.push(now);
    }
    if (query.expiringWithinSeconds !== undefined) {
      where.push('not_after <= ?');
      params.push(now + query.expiringWithinSeconds);
    }
    if (query.excludeSpiffeId !== undefined) {
      where.push('(spiffe_id IS NULL OR spiffe_id != ?)');
      params.push(query.excludeSpiffeId);
    }
    if (query.identityContains !== undefined) {
      const column = { spiffe: 'spiffe_id', dns: 'dns_names', ip: 'ip_addresses' }[query.identityContains.kind];
      where.push(`${column} LIKE ? ESCAPE '\\'`);
      params.push(`%${query.identityContains.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    if (query.after !== undefined) {
      where.push('(not_after > ? OR (not_after = ? AND serial > ?))');
      params.push(toSeconds(query.after.notAfter), toSeconds(query.after.notAfter), query.after.serial);
    }
    return { where, params };
  }

  recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent, options: { readonly blockKey?: boolean } = {}): RevocationOutcome {
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

  isKeyBlocked(subjectKeyHash: string): boolean {
    return this.guard(() => this.sql<[string]>('SELECT 1 FROM blocked_keys WHERE subject_key_hash = ?').get(subjectKeyHash) !== undefined);
  }

  renewalsOf(serial: string): Renewal[] {
    return this.guard(() =>
      this.sql<[string], { serial: string; issued_at: number }>('SELECT serial, issued_at FROM certificates WHERE renewed_from = ? ORDER BY issued_at, serial').all(serial).map((r) => ({ serial: r.serial, issuedAt: fromSeconds(r.issued_at) })),
    );
  }

  revokedPage(issuerKeyId: string, notAfterSince: Date, afterSerial: string, limit: number): RevokedCertificate[] {
    return this.guard(() =>
      // Rows as arrays (raw) read about twice as fast as rows as objects; this read runs once per CRL entry.
      this.selectRevokedBy.all(issuerKeyId, toSeconds(notAfterSince), afterSerial, limit).map(([serial, revokedAt, reason]) => ({ serial, revokedAt: fromSeconds(revokedAt), reason })),
    );
  }

  revocationsSince(sinceSeq: number): { seq: number; serials: string[] | null } {
    return this.guard(() => {
      const seq = (this.sql('SELECT MAX(seq) AS seq FROM revocation_log').get() as { seq: number | null }).seq ?? 0;
      if (seq <= sinceSeq) return { seq: sinceSeq, serials: [] };
      const rows = this.sql<[number, number], { serial: string }>('SELECT serial FROM revocation_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 10001').all(sinceSeq, seq);
      return { seq, serials: rows.length > 10_000 ? null : rows.map((r) => r.serial) };
    });
  }

  lastLeafExpiry(issuerKeyId: string): Date | undefined {
    return this.guard(() => {
      // Walks the notAfter index from the newest: a retired issuer's leaves are found within its successor's first day.
      const at = this.sql<[string], number>("SELECT not_after FROM certificates WHERE kind = 'leaf' AND issuer_key_id = ? ORDER BY not_after DESC LIMIT 1").pluck().get(issuerKeyId);
      return at === undefined ? undefined : fromSeconds(at);
    });
  }

  nextCrlNumber(issuerKeyId: string): bigint {
    return this.guard(() => this.db.transaction(() => BigInt(this.bumpCrlNumber.get(issuerKeyId)!.last_number)).immediate());
  }

  appendAudit(event: AuditEvent): void {
    this.guard(() => this.db.transaction(() => this.audit(event)).immediate());
  }

  appendAuditBatch(events: readonly AuditEvent[]): void {
    if (events.length > 0) this.guard(() => this.db.transaction(() => events.forEach(this.audit)).immediate());
  }

  /** Walks the audit log's sealed chain from the first row (see audit-chain.ts). */
  verifyAuditChain(): ChainVerdict {
    return this.guard(() => verifyChain(this.db.prepare<[], ChainedRow>('SELECT id, at, actor, action, target, outcome, detail, prev_hash, hash FROM audit_log ORDER BY id').iterate(), this.sealKey));
  }

  /** The last row's id and seal (hex), or undefined for an empty log: what a signed head publishes. */
  auditHead(): { id: number; seal: string } | undefined {
    return this.guard(() => {
      const row = this.sql<[], { id: number; hash: Buffer }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1').get();
      return row ? { id: row.id, seal: Buffer.from(row.hash).toString('hex') } : undefined;
    });
  }

  /** The seal of row `id`, or undefined when there is no such row. */
  auditSealOf(id: number): string | undefined {
    return this.guard(() => {
      const hash = this.sql<[number], Buffer>('SELECT hash FROM audit_log WHERE id = ?').pluck().get(id);
      return hash ? Buffer.from(hash).toString('hex') : undefined;
    });
  }

  auditLog(options: { limit?: number; after?: number } = {}): AuditRecord[] {
    const sql = `SELECT * FROM audit_log WHERE id > ? ORDER BY id${options.limit ? ` LIMIT ${Math.floor(options.limit)}` : ''}`;
    return this.guard(() =>
      this.sql<[number], AuditRow>(sql).all(options.after ?? 0).map((r) => ({
        id: r.id,
        at: fromSeconds(r.at),
        actor: r.actor,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) as Record<string, unknown> }),
      })),
    );
  }

  createApiKey(record: ApiKeyRecord, audit: AuditEvent): void {
    this.guard(() =>
      this.db.transaction(() => {
        // An expired key frees its name: it is marked revoked as of its expiry (and resealed) to make room.
        for (const old of this.sql<[string, number], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL AND expires_at <= ?').all(record.name, toSeconds(record.createdAt))) {
          const retired = { ...old, revoked_at: old.expires_at };
          this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(retired.revoked_at, apiKeySeal(this.sealKey, retired), old.id);
        }
        const taken = this.sql('SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(record.name);
        if (taken) throw new CaError('ERR_APIKEY_NAME_TAKEN', `auth: an active API key is already named "${record.name}" (revoke it first)`);
        const row = { id: record.id, name: record.name, secret_hash: record.secretHash, scopes: JSON.stringify(record.scopes), created_at: toSeconds(record.createdAt), expires_at: toSeconds(record.expiresAt), revoked_at: null };
        this.sql('INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at, seal) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(row.id, row.name, row.secret_hash, row.scopes, row.created_at, row.expires_at, apiKeySeal(this.sealKey, row));
        this.audit(audit);
      }).immediate(),
    );
  }

  findApiKey(id: string): ApiKeyRecord | undefined {
    return this.guard(() => {
      const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
      return row ? toApiKey(row, this.sealKey) : undefined;
    });
  }

  listApiKeys(): ApiKeyRecord[] {
    return this.guard(() => this.sql<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, name').all().map((r) => toApiKey(r, this.sealKey)));
  }

  revokeApiKey(name: string, at: Date, audit: AuditEvent): ApiKeyRecord | undefined {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(name);
        if (!row) return undefined;
        const revoked = { ...row, revoked_at: toSeconds(at) };
        this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(revoked.revoked_at, apiKeySeal(this.sealKey, revoked), row.id);
        // A predecessor still in its rotation grace goes too: revoking a name ends every secret it has.
        for (const old of this.sql<[string, number], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at > ?').all(name, toSeconds(at))) {
          const ended = { ...old, revoked_at: toSeconds(at) };
          this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(ended.revoked_at, apiKeySeal(this.sealKey, ended), old.id);
        }
        this.audit(audit);
        return toApiKey({ ...revoked, seal: apiKeySeal(this.sealKey, revoked) }, this.sealKey);
      }).immediate(),
    );
  }

  rotateApiKey(name: string, next: (old: ApiKeyRecord) => ApiKeyRecord, graceEndsAt: Date, audit: (old: ApiKeyRecord, next: ApiKeyRecord) => AuditEvent): { old: ApiKeyRecord; next: ApiKeyRecord } | undefined {
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
        const ends = Math.min(toSeconds(graceEndsAt), row.expires_at);
        const retired = { ...row, revoked_at: ends };
        this.sql('UPDATE api_keys SET revoked_at = ?, seal = ? WHERE id = ?').run(ends, apiKeySeal(this.sealKey, retired), row.id);
        const fresh = { id: record.id, name: record.name, secret_hash: record.secretHash, scopes: JSON.stringify(record.scopes), created_at: toSeconds(record.createdAt), expires_at: toSeconds(record.expiresAt), revoked_at: null };
        this.sql('INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at, seal) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(fresh.id, fresh.name, fresh.secret_hash, fresh.scopes, fresh.created_at, fresh.expires_at, apiKeySeal(this.sealKey, fresh));
        const oldAfter = toApiKey({ ...retired, seal: apiKeySeal(this.sealKey, retired) }, this.sealKey);
        this.audit(audit(oldAfter, record));
        return { old: oldAfter, next: record };
      }).immediate(),
    );
  }

  touchApiKey(id: string, at: Date): void {
    this.guard(() => this.sql('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(toSeconds(at), id));
  }

  /** Closes the database, checkpointing the WAL. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** What a migration's data step may use: the audit seal key, for the rows it writes or reseals. */
interface MigrationContext {
  readonly sealKey: Buffer;
  /** True when the audit key was made just now: only then may rows from before it be sealed (migration 006). */
  readonly auditKeyFresh: boolean;
}

/** The first migration that seals rows with the audit key; a database older than it may be sealed only by a new key. */
const FIRST_SEALED_VERSION = 6;

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
function migrate(db: Database.Database, ctx: MigrationContext): { from: number; to: number } | undefined {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const latest = Number(files.at(-1)?.slice(0, 3) ?? 0);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  if (current > latest) {
    throw new CaError('ERR_STORE_CORRUPT', `store: the database schema (version ${current}) is newer than this meshca understands (${latest}); upgrade meshca`);
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
  return current > 0 && current < latest ? { from: current, to: latest } : undefined;
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
    // meshca creates no triggers or views: one found was added outside meshca, e.g. to drop audit rows as they are written.
    const foreign = db.prepare<[], { type: string; name: string }>("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')").all();
    if (foreign.length > 0) {
      throw new CaError('ERR_AUDIT_TAMPERED', `store: ${path} holds ${foreign.map((f) => `${f.type} "${f.name}"`).join(', ')}, which meshca never creates: the database was changed outside meshca; refusing to use it`);
    }
    const upgraded = migrate(db, { sealKey: options.sealKey, auditKeyFresh: options.auditKeyFresh ?? path === ':memory:' });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('certificates', 'audit_log', 'crl_numbers', 'api_keys', 'used_tokens', 'revocation_log', 'blocked_keys')").all();
    if (tables.length !== 7) throw new CaError('ERR_STORE_CORRUPT', `store: ${path} is missing meshca tables`);
    const store = new SqliteCertificateStore(db, path, options.sealKey);
    store.upgraded = upgraded;
    return store;
  } catch (e) {
    db?.close();
    throw storeError(e, path);
  }
}
