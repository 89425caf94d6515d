// What the ACME server needs from the CA's store, declared here by the code that uses it (both stores implement it).

import type { AuditEvent } from '../authority/ports.js';

/** An external-account key as stored: its HMAC key sealed (see eab-keys.ts), its scopes as typed texts. */
export interface EabKeyRecord {
  readonly kid: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly sealedKey: Buffer;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
}

/** An ACME account: bound to the EAB key it was made with (whose scopes limit what it may order). */
export interface AcmeAccountRecord {
  readonly id: string;
  /** RFC 7638 SHA-256 thumbprint of its key: one account per key. */
  readonly thumbprint: string;
  /** Its public key, JWK as JSON text. */
  readonly jwk: string;
  readonly status: 'valid' | 'deactivated' | 'revoked';
  readonly contact: readonly string[];
  readonly eabKid: string;
  readonly createdAt: Date;
}

/** An identifier as ACME names it: `dns`, `ip`, or meshca's `spiffe` extension. */
export interface AcmeIdentifier {
  readonly type: 'dns' | 'ip' | 'spiffe';
  readonly value: string;
}

export type AcmeOrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';

export interface AcmeOrderRecord {
  readonly id: string;
  readonly accountId: string;
  readonly status: AcmeOrderStatus;
  readonly identifiers: readonly AcmeIdentifier[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** A problem document (JSON text) once invalid. */
  readonly error: string | null;
  readonly certificateSerial: string | null;
}

export interface AcmeAuthorizationRecord {
  readonly id: string;
  readonly orderId: string;
  readonly accountId: string;
  readonly identifier: AcmeIdentifier;
  readonly status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  readonly expiresAt: Date;
}

export interface AcmeChallengeRecord {
  readonly id: string;
  readonly authorizationId: string;
  readonly type: 'http-01' | 'tls-alpn-01';
  readonly token: string;
  readonly status: 'pending' | 'processing' | 'valid' | 'invalid';
  readonly validatedAt: Date | null;
  readonly error: string | null;
}

export interface AcmeStore {
  /** Stores an order with its authorizations and their challenges in one transaction (audited). */
  /** Stores a new order with its authorizations and challenges; `ERR_ACME_TOO_MANY_ORDERS` when its account already has `maxOpen` open (unexpired, without a certificate). */
  createAcmeOrder(order: AcmeOrderRecord, authorizations: readonly AcmeAuthorizationRecord[], challenges: readonly AcmeChallengeRecord[], audit: AuditEvent, maxOpen?: number): Promise<void>;
  findAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined>;
  /** An account's orders, newest first, at most `limit`. */
  listAcmeOrders(accountId: string, limit: number): Promise<AcmeOrderRecord[]>;
  /** Sets what changed of an order; with `from`, only while its status is still that (undefined otherwise). */
  updateAcmeOrder(id: string, change: Partial<Pick<AcmeOrderRecord, 'status' | 'error' | 'certificateSerial'>>, from?: AcmeOrderStatus): Promise<AcmeOrderRecord | undefined>;
  findAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined>;
  acmeAuthorizationsOf(orderId: string): Promise<AcmeAuthorizationRecord[]>;
  updateAcmeAuthorization(id: string, status: AcmeAuthorizationRecord['status']): Promise<void>;
  findAcmeChallenge(id: string): Promise<AcmeChallengeRecord | undefined>;
  acmeChallengesOf(authorizationId: string): Promise<AcmeChallengeRecord[]>;
  /**
   * A validation's outcome, in one transaction and only while the challenge is still `processing` (false otherwise:
   * another replica settled it): valid makes the challenge and its authorization valid, and the order ready once all
   * its authorizations are; invalid makes all three invalid with `error` (a problem document).
   */
  settleAcmeChallenge(target: { challengeId: string; authorizationId: string; orderId: string }, outcome: { valid: true; at: Date } | { valid: false; error: string }): Promise<boolean>;
  /** Sets a challenge's outcome; with `from`, only while its status is still that (false otherwise: another replica took it). */
  updateAcmeChallenge(id: string, change: Partial<Pick<AcmeChallengeRecord, 'status' | 'validatedAt' | 'error'>>, from?: AcmeChallengeRecord['status']): Promise<boolean>;
  /**
   * Stores a new account (audited) and marks its EAB key used, unless an account with the same key exists: then that
   * one is returned and nothing is written (`created: false`).
   */
  createAcmeAccount(account: AcmeAccountRecord, audit: AuditEvent): Promise<{ account: AcmeAccountRecord; created: boolean }>;
  findAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined>;
  findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined>;
  /**
   * Changes an account (contact, status, or key for keyChange; audited). `ERR_ACME_KEY_IN_USE` when the new key is
   * another account's; with `fromThumbprint`, `ERR_ACME_KEY_CHANGED` unless that is still the account's key (two
   * keyChanges at once: one wins). Returns the account as stored, undefined when there is none.
   */
  updateAcmeAccount(id: string, change: Partial<Pick<AcmeAccountRecord, 'contact' | 'status' | 'jwk' | 'thumbprint'>>, audit: AuditEvent, fromThumbprint?: string): Promise<AcmeAccountRecord | undefined>;
  /** The order that got certificate `serial`, if an ACME order did. */
  acmeOrderOfCertificate(serial: string): Promise<AcmeOrderRecord | undefined>;
  /** Deletes up to `limit` orders (with their authorizations and challenges) that never got a certificate and expired before `before`; how many. */
  pruneAcmeOrders(before: Date, limit: number): Promise<number>;
  /** Stores a new EAB key with its audit row; `ERR_EAB_NAME_TAKEN` while an unrevoked key has the name. */
  createEabKey(record: EabKeyRecord, audit: AuditEvent): Promise<void>;
  findEabKey(kid: string): Promise<EabKeyRecord | undefined>;
  /** Every EAB key, newest first. */
  listEabKeys(): Promise<EabKeyRecord[]>;
  /** Revokes the unrevoked key named `name` (audited); undefined when there is none. */
  revokeEabKey(name: string, at: Date, audit: AuditEvent): Promise<EabKeyRecord | undefined>;
  /**
   * Spends a nonce (see nonces.ts, which checks it was handed out): true the first time, false after, whichever
   * replica is asked; remembered until `expiresAt`, when it is no longer accepted anyway.
   */
  spendNonce(nonce: string, expiresAt: Date, now: Date): Promise<boolean>;
  /** Whether spent nonces outlive this process (PostgreSQL: shared by the replicas), or are this process's (SQLite). */
  readonly spentNoncesDurable: boolean;
}
