// What the authority core needs from the outside world, declared here by the code that uses it.

import type { RevocationReason } from '../revocation/reasons.js';
import type { RenewalAdvice } from './renewal-advice.js';

/** The kind of certificate a record holds. */
export type CertificateKind = 'root' | 'intermediate' | 'leaf';

/** A certificate as the CA remembers it. Serials are canonical lowercase hex; times whole seconds. */
export interface CertificateRecord {
  readonly serial: string;
  readonly kind: CertificateKind;
  /** Hex key identifier of the issuer (the certificate's AKI). */
  readonly issuerKeyId: string;
  readonly commonName: string;
  readonly spiffeId: string | null;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly der: Buffer;
  readonly revokedAt: Date | null;
  readonly reason: RevocationReason | null;
  /** Hex SHA-256 of the SubjectPublicKeyInfo DER: the key a keyCompromise revocation blocks. */
  readonly subjectKeyHash: string;
  /** Serial of the leaf this one renewed, or null for a first issuance. */
  readonly renewedFrom: string | null;
  /** When the CA signed it (notBefore is backdated for clock skew; this is not). */
  readonly issuedAt: Date;
  /** Who asked for it, as audited (`acme:<account>`, `apikey:<name>`, a token's subject…); null when not recorded. */
  readonly requestedBy?: string | null;
}

/** One row of the audit log: who did what to which object, when, and how it ended. */
export interface AuditEvent {
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: 'ok' | 'refused' | 'noop';
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** A stored audit row. */
export interface AuditRecord extends AuditEvent {
  readonly id: number;
}

/** Which certificates a listing returns. */
export interface CertificateQuery {
  readonly kind?: CertificateKind;
  /** `valid` means neither revoked nor expired at `now`. */
  readonly status?: 'valid' | 'revoked' | 'expired';
  /** Only valid certificates whose notAfter falls within this many seconds of `now`. */
  readonly expiringWithinSeconds?: number;
  readonly now: Date;
  readonly limit?: number;
  /** Leave out the certificates with this SPIFFE ID (the CA service's own, from the inventory). */
  readonly excludeSpiffeId?: string;
  /** Only certificates with an identity of this kind containing `text` (a narrowing; the caller matches exactly). */
  readonly identityContains?: { readonly kind: 'spiffe' | 'dns' | 'ip'; readonly text: string };
  /** Resume a listing after this certificate (in the listing's notAfter, serial order). */
  readonly after?: { readonly notAfter: Date; readonly serial: string };
  /** Latest notAfter first (default: soonest first). */
  readonly descending?: boolean;
  /** Only certificates signed before this (`issuedAt`). */
  readonly issuedBefore?: Date;
}

/** One entry of the revocation log: a leaf revoked, at its place in the log's sequence. */
export interface RevocationEvent {
  readonly seq: number;
  readonly serial: string;
  /** Hex key id of the intermediate that issued it. */
  readonly issuerKeyId: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
  readonly notAfter: Date;
}

/** A revoked certificate as a CRL lists it. */
export interface RevokedCertificate {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** A single-use enrollment token, spent by the issuance it authorized. */
export interface SpentToken {
  readonly jti: string;
  readonly expiresAt: Date;
}

/**
 * The outcome of recording a revocation. `alsoRevoked` lists the other unexpired leaves revoked with it because
 * they share its key (keyCompromise), and `keyBlocked` whether that key is now refused for good.
 */
export type RevocationOutcome =
  | { readonly result: 'revoked' | 'already-revoked'; readonly record: CertificateRecord; readonly alsoRevoked: readonly string[]; readonly keyBlocked: boolean }
  | { readonly result: 'not-found' };

/** A newly signed certificate with its audit row and, for enrollment, the token it spends. */
export interface IssuedEntry {
  readonly record: CertificateRecord;
  readonly audit: AuditEvent;
  readonly spendToken?: SpentToken | undefined;
  /**
   * For a renewal (`record.renewedFrom` set): how long after the predecessor's first renewal another renewal of
   * it is still accepted (a retry after a lost response); later ones fork the lineage and are refused.
   */
  readonly renewalGraceSeconds?: number | undefined;
}

/**
 * What recording an issuance did: stored it, or stored nothing because the serial was taken, the token spent,
 * the key blocked (keyCompromise), or the predecessor was already renewed longer ago than the grace; or, for a
 * renewal that raced another of the same certificate for the same key, stored nothing and gives that one's
 * successor (`replayed`), so one lineage never gets two branches.
 */
export type IssuedOutcome = 'recorded' | 'serial-taken' | 'token-spent' | 'key-blocked' | 'renewal-forked' | { readonly replayed: CertificateRecord };

/** A renewal of a leaf: the successor's serial and when it was signed. */
export interface Renewal {
  readonly serial: string;
  readonly issuedAt: Date;
}

/**
 * Durable storage of certificates, revocations, CRL numbers and the audit log. Every method is asynchronous: one
 * implementation is embedded (SQLite), another is a server shared by several CA replicas (PostgreSQL). A store
 * that cannot be reached fails with `ERR_DATABASE_UNAVAILABLE`, quickly.
 */
export interface CertificateStore {
  /**
   * Records a newly signed certificate together with its audit row in one transaction, and, when
   * `spendToken` is given, marks that enrollment token used in the same transaction. Stores nothing when
   * the serial is already taken or the token was already spent.
   */
  recordIssued(record: CertificateRecord, audit: AuditEvent, spendToken?: SpentToken): Promise<IssuedOutcome>;
  /** Records many issuances in one durable transaction; each entry's outcome is as `recordIssued`'s. */
  recordIssuedBatch(entries: readonly IssuedEntry[]): Promise<IssuedOutcome[]>;
  findBySerial(serial: string): Promise<CertificateRecord | undefined>;
  list(query: CertificateQuery): Promise<CertificateRecord[]>;
  /** How many certificates `list` would return without a limit. */
  count(query: CertificateQuery): Promise<number>;
  /**
   * Marks a certificate revoked (and audits it) in one transaction; a second revocation changes nothing. With
   * `blockKey`, the same transaction also blocks the certificate's key and revokes (keyCompromise, audited) every
   * other unexpired leaf with that key, whether or not the certificate itself was already revoked.
   */
  recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent, options?: { readonly blockKey?: boolean }): Promise<RevocationOutcome>;
  /** True when a keyCompromise revocation blocked the key with this SPKI hash. */
  isKeyBlocked(subjectKeyHash: string): Promise<boolean>;
  /** The leaves that renewed `serial`, oldest first. */
  renewalsOf(serial: string): Promise<Renewal[]>;
  /**
   * Takes the next CRL number of the issuer whose key id is `issuerKeyId` and reads, as of that moment, its revoked
   * certificates whose notAfter is after `scope.notAfterSince`, in serial order, a page at a time (`onPage` is awaited
   * between pages). The number is the larger of the last one plus one and `scope.numberAtLeast`. Numbers are never
   * reused, and a CRL numbered higher lists at least what a lower one listed, whichever process (or replica) takes them.
   */
  crlSnapshot(issuerKeyId: string, scope: CrlScope, onPage: (page: readonly RevokedCertificate[]) => void | Promise<void>): Promise<{ number: bigint; revocationSeq: number }>;
  /** The newest CRL of the issuer any process of this CA has published, if one has. */
  publishedCrl(issuerKeyId: string): Promise<StoredCrl | undefined>;
  /**
   * Publishes a newly signed CRL for every process of this CA to serve, unless one with a higher number is there
   * already (another replica signed meanwhile); returns the one that is, and tells the other replicas.
   */
  publishCrl(crl: StoredCrl): Promise<StoredCrl>;
  /** The newest revocation sequence number, and the serials revoked after `sinceSeq` (null when too many to list). */
  revocationsSince(sinceSeq: number): Promise<{ seq: number; serials: string[] | null }>;
  /** The revocation log after `afterSeq`, in order, at most `limit` entries: what the revocation stream replays. */
  revocationEvents(afterSeq: number, limit: number): Promise<RevocationEvent[]>;
  /** The latest notAfter of the leaves of the issuer with this key id (undefined when it issued none). */
  lastLeafExpiry(issuerKeyId: string): Promise<Date | undefined>;
  appendAudit(event: AuditEvent): Promise<void>;
  /** Appends several audit rows in one transaction (aggregated refusals). */
  appendAuditBatch(events: readonly AuditEvent[]): Promise<void>;
  /** Audit rows in id order: after row `after` (default 0), at most `limit`. */
  /** Audit rows oldest first after `after`, or newest first below `before`. */
  auditLog(options?: { limit?: number; after?: number; before?: number }): Promise<AuditRecord[]>;
  /**
   * Stores a "renew now" rule with its audit row in one transaction (the row's detail gains the rule's `adviceId`),
   * and tells other replicas (PostgreSQL: NOTIFY `advice`). Returns it with its id.
   */
  recordRenewalAdvice(advice: Omit<RenewalAdvice, 'id'>, audit: AuditEvent): Promise<RenewalAdvice>;
  /** The rules stored after rule `afterId`, in id order, at most `limit`: the push stream resumes from an id. */
  renewalAdviceSince(afterId: number, limit: number): Promise<RenewalAdvice[]>;
  /**
   * The rules made at or after `createdSince`, in id order. Rules older than the CA's maximum TTL cover no unexpired
   * leaf, and rules older than a leaf's issuance never cover it.
   */
  activeRenewalAdvice(createdSince: Date): Promise<RenewalAdvice[]>;
  /**
   * One step of a lineage: the leaves renewed from one of `serials` (with or without a new key) and the leaves whose
   * key (SPKI hash) is one of `subjectKeyHashes`, whatever their status, in serial order. Indexed lookups; any
   * number of serials and hashes (read in chunks).
   */
  leavesRelatedTo(serials: readonly string[], subjectKeyHashes: readonly string[]): Promise<CertificateRecord[]>;
  /**
   * Revokes the leaves `serials` in one transaction: each one newly revoked gets its revocation log row and its audit
   * row `audit(serial)`, and the change is announced like any revocation. A serial already revoked is left as it was
   * and one that is no leaf of this CA is not touched (`notFound`). With `blockKeysOf`, the same transaction blocks
   * the key of each of those serials (keyCompromise; each newly blocked key audited once, as `key-block`).
   */
  recordRevocations(serials: readonly string[], revokedAt: Date, reason: RevocationReason, audit: (serial: string) => AuditEvent, options?: { readonly blockKeysOf?: readonly string[] }): Promise<BulkRevocationOutcome>;
  /** The serials of the leaves renewed from each of `serials` (oldest first; a serial never renewed has none), in one lookup. */
  successorsOf(serials: readonly string[]): Promise<Map<string, string[]>>;
}

/** What {@link CertificateStore.recordRevocations} did, serial by serial. */
export interface BulkRevocationOutcome {
  readonly revoked: string[];
  readonly alreadyRevoked: string[];
  readonly notFound: string[];
  /** SPKI hashes blocked by this call or before it (with `blockKeysOf`), in the order first met. */
  readonly keysBlocked: string[];
}

/**
 * A CRL as the store keeps it for every process of the CA to serve: the root's as last signed with the root key (at
 * init, at a rotation, or by hand), each intermediate's as last signed by any replica.
 */
export interface StoredCrl {
  readonly issuerKeyId: string;
  readonly level: 'root' | 'intermediate';
  readonly number: bigint;
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** The revocation log's sequence number as far as the CRL lists it (see `revocationsSince`). */
  readonly revocationSeq: number;
}

/**
 * The CA's own certificates as its store holds them: the root and every intermediate (each a `CertificateRecord`
 * of its kind), the root's CRL, and fingerprints of the keys that replicas must share. Every process serving the
 * CA reads its hierarchy from here, so a rotation made anywhere reaches all of them.
 */
export interface HierarchyStore {
  /** The root and every intermediate ever made, oldest first. */
  caCertificates(): Promise<CertificateRecord[]>;
  /**
   * Stores a new intermediate with its audit row, and tells other replicas; refuses (`ERR_ROTATION_CONFLICT`) when
   * the newest intermediate is no longer `replaces` (another rotation got there first). `replaces` is null at init.
   */
  recordIntermediate(record: CertificateRecord, audit: AuditEvent, replaces: string | null): Promise<void>;
  rootCrl(): Promise<StoredCrl | undefined>;
  /** Stores a newly signed root CRL (with its audit row) unless one with a higher number is already stored. */
  saveRootCrl(crl: StoredCrl, audit: AuditEvent): Promise<void>;
  /** A fingerprint recorded for `name` (e.g. `token-key`), or undefined. */
  fingerprint(name: string): Promise<string | undefined>;
  /** Records a fingerprint for `name` unless one is recorded; returns the one that is. */
  recordFingerprint(name: string, value: string): Promise<string>;
}

/** What a CRL about to be signed covers, and the least number it may take. */
export interface CrlScope {
  /** Revoked certificates whose notAfter is after this are listed. */
  readonly notAfterSince: Date;
  /**
   * The number is the larger of the last one plus one and this. Passing the signing time in milliseconds keeps
   * numbers growing across a database restored from a backup, whose own counter is behind what was published.
   */
  readonly numberAtLeast: bigint;
}
