// The CertificateStore port on better-sqlite3: WAL, synchronous=FULL, forward-only numbered migrations.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ApiKeyRecord, ApiKeyStore } from '../auth/ports.js';
import type { AuditEvent, AuditRecord, CertificateKind, CertificateQuery, CertificateRecord, CertificateStore, IssuedEntry, IssuedOutcome, RevocationOutcome, RevokedCertificate, SpentToken } from '../authority/ports.js';
import { CaError } from '../errors.js';
import { GENESIS, rowHash, verifyChain, type ChainedRow, type ChainVerdict } from './audit-chain.js';
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
}

function toApiKey(r: ApiKeyRow): ApiKeyRecord {
  return {
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
  private readonly insertAudit;
  private readonly lastAuditHash;
  private readonly selectBySerial;
  private readonly markRevoked;
  private readonly bumpCrlNumber;
  private readonly selectRevokedBy;
  private readonly spendToken;
  private readonly logRevocation;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.insertCertificate = db.prepare(
      `INSERT INTO certificates (serial, kind, issuer_key_id, common_name, spiffe_id, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason)
       VALUES (@serial, @kind, @issuer_key_id, @common_name, @spiffe_id, @dns_names, @ip_addresses, @not_before, @not_after, @der, @revoked_at, @revocation_reason)
       ON CONFLICT (serial) DO NOTHING`,
    );
    this.insertAudit = db.prepare('INSERT INTO audit_log (at, actor, action, target, outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.lastAuditHash = db.prepare<[], Buffer | null>('SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1').pluck();
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

  /** Appends an audit row chained to the one before it; callers hold a write transaction, so the link is exact. */
  private audit(event: AuditEvent): void {
    const row = { at: toSeconds(event.at), actor: event.actor, action: event.action, target: event.target, outcome: event.outcome, detail: event.detail === undefined ? null : JSON.stringify(event.detail) };
    const prev = this.lastAuditHash.get() ?? GENESIS;
    this.insertAudit.run(row.at, row.actor, row.action, row.target, row.outcome, row.detail, prev, rowHash(prev, row));
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
  private recordOne(entry: IssuedEntry): 'recorded' | 'token-spent' {
    this.recordOneTx ??= this.db.transaction(({ record, audit, spendToken }: IssuedEntry) => {
      if (spendToken && this.spendToken.run(spendToken.jti, toSeconds(audit.at), toSeconds(spendToken.expiresAt), record.serial).changes === 0) {
        return 'token-spent' as const;
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
      });
      // Undo the token spend too (the savepoint rolls back): the caller retries with a fresh serial.
      if (inserted.changes === 0) throw new SerialTaken();
      this.audit(audit);
      return 'recorded' as const;
    });
    return this.recordOneTx(entry);
  }
  private recordOneTx: Database.Transaction<(entry: IssuedEntry) => 'recorded' | 'token-spent'> | undefined;

  findBySerial(serial: string): CertificateRecord | undefined {
    return this.guard(() => {
      const row = this.selectBySerial.get(serial);
      return row ? toRecord(row) : undefined;
    });
  }

  list(query: CertificateQuery): CertificateRecord[] {
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
    const sql = `SELECT * FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, serial${query.limit ? ` LIMIT ${Math.floor(query.limit)}` : ''}`;
    return this.guard(() => this.sql<(string | number)[], CertificateRow>(sql).all(...params).map(toRecord));
  }

  recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent): RevocationOutcome {
    return this.guard(() =>
      this.db.transaction((): RevocationOutcome => {
        const row = this.selectBySerial.get(serial);
        if (!row) return { result: 'not-found' };
        if (row.revoked_at !== null) {
          this.audit({ ...audit, outcome: 'noop', detail: { ...audit.detail, already: 'revoked' } });
          return { result: 'already-revoked', record: toRecord(row) };
        }
        this.markRevoked.run(toSeconds(revokedAt), reason, serial);
        this.logRevocation.run(serial, toSeconds(revokedAt));
        this.audit(audit);
        return { result: 'revoked', record: toRecord({ ...row, revoked_at: toSeconds(revokedAt), revocation_reason: reason }) };
      }).immediate(),
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

  nextCrlNumber(issuerKeyId: string): bigint {
    return this.guard(() => this.db.transaction(() => BigInt(this.bumpCrlNumber.get(issuerKeyId)!.last_number)).immediate());
  }

  appendAudit(event: AuditEvent): void {
    this.guard(() => this.db.transaction(() => this.audit(event)).immediate());
  }

  /** Walks the audit log's hash chain from the first row (see audit-chain.ts). */
  verifyAuditChain(): ChainVerdict {
    return this.guard(() => verifyChain(this.db.prepare<[], ChainedRow>('SELECT id, at, actor, action, target, outcome, detail, prev_hash, hash FROM audit_log ORDER BY id').iterate()));
  }

  auditLog(options: { limit?: number } = {}): AuditRecord[] {
    const sql = `SELECT * FROM audit_log ORDER BY id${options.limit ? ` LIMIT ${Math.floor(options.limit)}` : ''}`;
    return this.guard(() =>
      this.db.prepare<[], AuditRow>(sql).all().map((r) => ({
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
        const taken = this.sql('SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(record.name);
        if (taken) throw new CaError('ERR_APIKEY_NAME_TAKEN', `auth: an active API key is already named "${record.name}" (revoke it first)`);
        this.sql('INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(record.id, record.name, record.secretHash, JSON.stringify(record.scopes), toSeconds(record.createdAt), toSeconds(record.expiresAt));
        this.audit(audit);
      }).immediate(),
    );
  }

  findApiKey(id: string): ApiKeyRecord | undefined {
    return this.guard(() => {
      const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
      return row ? toApiKey(row) : undefined;
    });
  }

  listApiKeys(): ApiKeyRecord[] {
    return this.guard(() => this.sql<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, name').all().map(toApiKey));
  }

  revokeApiKey(name: string, at: Date, audit: AuditEvent): ApiKeyRecord | undefined {
    return this.guard(() =>
      this.db.transaction(() => {
        const row = this.sql<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(name);
        if (!row) return undefined;
        this.sql('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(toSeconds(at), row.id);
        this.audit(audit);
        return toApiKey({ ...row, revoked_at: toSeconds(at) });
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

/** Applies every numbered migration newer than the database's version, each in its own transaction. */
/** Data steps SQL cannot express, run in the same transaction as their migration. */
const AFTER_MIGRATION: Record<number, (db: Database.Database) => void> = {
  // 005_audit_chain: seal the rows written before the chain existed, oldest first.
  5: (db) => {
    const update = db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?');
    let prev: Buffer = GENESIS;
    for (const row of db.prepare<[], ChainedRow>('SELECT * FROM audit_log ORDER BY id').all()) {
      const hash = rowHash(prev, row);
      update.run(prev, hash, row.id);
      prev = hash;
    }
  },
};

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const latest = Number(files.at(-1)?.slice(0, 3) ?? 0);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  if (current > latest) {
    throw new CaError('ERR_STORE_CORRUPT', `store: the database schema (version ${current}) is newer than this meshca understands (${latest}); upgrade meshca`);
  }
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    if (version <= current) continue;
    const sql = readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8');
    db.transaction(() => {
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (done) return;
      db.exec(sql);
      AFTER_MIGRATION[version]?.(db);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, Math.floor(Date.now() / 1000));
    }).immediate();
  }
}

/**
 * Opens (or with `create`, creates) the CA database: WAL journal, `synchronous=FULL` so an acknowledged write
 * survives power loss as well as a killed process, a busy timeout so parallel `ca` processes queue instead of failing.
 */
export function openSqliteStore(path: string, options: { create?: boolean } = {}): SqliteCertificateStore {
  if (!options.create && path !== ':memory:' && !existsSync(path)) {
    throw new CaError('ERR_STORE_MISSING', `store: database ${path} is missing (was the CA directory created with \`ca init\`?)`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: !options.create });
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Reads through a memory map (no read() call per page) for the first 128 MiB: cold CRL builds read every
    // revoked entry once. Mapped pages count in RSS, so the map stays small.
    db.pragma('mmap_size = 134217728');
    migrate(db);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('certificates', 'audit_log', 'crl_numbers', 'api_keys', 'used_tokens', 'revocation_log')").all();
    if (tables.length !== 6) throw new CaError('ERR_STORE_CORRUPT', `store: ${path} is missing meshca tables`);
    return new SqliteCertificateStore(db, path);
  } catch (e) {
    db?.close();
    throw storeError(e, path);
  }
}
