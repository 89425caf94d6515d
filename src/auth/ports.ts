// What caller authentication needs from storage: API keys by id, and their lifecycle.

import type { AuditEvent } from '../authority/ports.js';

/** An API key as stored: never the key itself, only the SHA-256 of its secret. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly secretHash: Buffer;
  readonly scopes: readonly string[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
  /** False when the stored row does not match its seal: it was written or changed outside meshca. */
  readonly intact: boolean;
}

/** Durable storage of API keys. */
export interface ApiKeyStore {
  /** Stores a new key with its audit row; refuses (`ERR_APIKEY_NAME_TAKEN`) a name an active key already has. */
  createApiKey(record: ApiKeyRecord, audit: AuditEvent): Promise<void>;
  findApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Revokes the active key called `name`, with its audit row; undefined when there is none. */
  revokeApiKey(name: string, at: Date, audit: AuditEvent): Promise<ApiKeyRecord | undefined>;
  /**
   * Replaces the active key called `name` with `next` (same name and scopes) in one transaction: the old key
   * stays valid until `graceEndsAt` (recorded as its revocation time), then is refused. Undefined when there is
   * no active key of that name.
   */
  rotateApiKey(name: string, next: (old: ApiKeyRecord) => ApiKeyRecord, graceEndsAt: Date, audit: (old: ApiKeyRecord, next: ApiKeyRecord) => AuditEvent): Promise<{ old: ApiKeyRecord; next: ApiKeyRecord } | undefined>;
  /** Records a use of the key (last-used time). */
  touchApiKey(id: string, at: Date): Promise<void>;
}
