// The store a CA opens: every storage port over one database, SQLite in the CA directory or a PostgreSQL server shared by replicas.

import type { AcmeStore } from '../acme/ports.js';
import type { ApiKeyStore } from '../auth/ports.js';
import type { AuditEvent, CertificateStore, HierarchyStore } from '../authority/ports.js';
import { CaError } from '../errors.js';
import type { ChainVerdict } from './audit-chain.js';

/**
 * What another process announced it changed: a revocation, a CRL it published, the hierarchy (a rotation, a new root
 * CRL), or a "renew now" rule it recorded.
 */
export type ChangeListener = (what: 'revocation' | 'crl' | 'hierarchy' | 'advice') => void;

/** Every port the CA needs from its database, and what operating it takes (health, change feed, audit walk). */
export interface CaStore extends CertificateStore, ApiKeyStore, HierarchyStore, AcmeStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Where the data lives, safe to print: a file path, or a URL without its password. */
  readonly location: string;
  /** The schema versions this opening upgraded the database from and to, if it did (what changed is in the audit log). */
  readonly upgraded: { from: number; to: number } | undefined;
  /** The schema version the database is at (after this opening's migrations). */
  readonly schemaVersion: number;
  /** Resolves when the database answers; rejects with `ERR_DATABASE_UNAVAILABLE` (or the store's error) quickly when not. */
  ping(): Promise<void>;
  /**
   * Calls `listener` as soon as another process says it changed something (PostgreSQL NOTIFY); readers poll as
   * well, so this only makes them faster. Returns what unsubscribes.
   */
  onChange(listener: ChangeListener): () => void;
  /** Walks the audit log's sealed chain from the first row (see audit-chain.ts). */
  verifyAuditChain(): Promise<ChainVerdict>;
  /** The last audit row's id and seal (hex), or undefined for an empty log: what a signed head publishes. */
  auditHead(): Promise<{ id: number; seal: string } | undefined>;
  /** The seal of audit row `id`, or undefined when there is no such row. */
  auditSealOf(id: number): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The audit row of a renewal answered with the successor a racing renewal of the same certificate got (both stores). */
export function replayAudit(audit: AuditEvent, predecessor: string, successor: string): AuditEvent {
  return { ...audit, target: successor, outcome: 'noop', detail: { predecessor, replayed: successor, raced: true } };
}

/** The refusal of a rotation that another one overtook (both stores check it in the transaction that records it). */
export function rotationConflict(newest: string | null): CaError {
  return new CaError('ERR_ROTATION_CONFLICT', `store: another rotation made intermediate ${newest ?? '(none)'} meanwhile; nothing was changed (run it again if another rotation is still wanted)`);
}
