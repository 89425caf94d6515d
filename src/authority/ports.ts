// What the authority core needs from the outside world, declared here by the code that uses it.

import type { RevocationReason } from '../revocation/reasons.js';

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

/** The outcome of recording a revocation. */
export type RevocationOutcome =
  | { readonly result: 'revoked'; readonly record: CertificateRecord }
  | { readonly result: 'already-revoked'; readonly record: CertificateRecord }
  | { readonly result: 'not-found' };

/** A newly signed certificate with its audit row and, for enrollment, the token it spends. */
export interface IssuedEntry {
  readonly record: CertificateRecord;
  readonly audit: AuditEvent;
  readonly spendToken?: SpentToken | undefined;
}

/** What recording an issuance did: stored it, or stored nothing because the serial or the token was taken. */
export type IssuedOutcome = 'recorded' | 'serial-taken' | 'token-spent';

/** Durable storage of certificates, revocations, CRL numbers and the audit log. */
export interface CertificateStore {
  /**
   * Records a newly signed certificate together with its audit row in one transaction, and, when
   * `spendToken` is given, marks that enrollment token used in the same transaction. Stores nothing when
   * the serial is already taken or the token was already spent.
   */
  recordIssued(record: CertificateRecord, audit: AuditEvent, spendToken?: SpentToken): IssuedOutcome;
  /** Records many issuances in one durable transaction; each entry's outcome is as `recordIssued`'s. */
  recordIssuedBatch(entries: readonly IssuedEntry[]): IssuedOutcome[];
  findBySerial(serial: string): CertificateRecord | undefined;
  list(query: CertificateQuery): CertificateRecord[];
  /** Marks a certificate revoked (and audits it) in one transaction; a second revocation changes nothing. */
  recordRevocation(serial: string, revokedAt: Date, reason: RevocationReason, audit: AuditEvent): RevocationOutcome;
  /**
   * One page of the revoked certificates issued by `issuerKeyId` whose notAfter is after `notAfterSince`, in
   * serial order, starting after `afterSerial` (keyset paging keeps each read short).
   */
  revokedPage(issuerKeyId: string, notAfterSince: Date, afterSerial: string, limit: number): RevokedCertificate[];
  /** The newest revocation sequence number, and the serials revoked after `sinceSeq` (null when too many to list). */
  revocationsSince(sinceSeq: number): { seq: number; serials: string[] | null };
  /** Persists and returns the next CRL number for an issuer; strictly increasing, never reused. */
  nextCrlNumber(issuerKeyId: string): bigint;
  appendAudit(event: AuditEvent): void;
  auditLog(options?: { limit?: number }): AuditRecord[];
}
