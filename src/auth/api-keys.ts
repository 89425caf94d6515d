// API keys for automation and operators: minted random, shown once, stored as a hash, scoped, expiring, revocable.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { addSeconds, wholeSeconds, type Clock } from '../crypto/clock.js';
import { CaError } from '../errors.js';
import { parseScope, type Scope } from './scopes.js';
import { isReservedPattern } from '../identity/reserved.js';
import type { ApiKeyRecord, ApiKeyStore } from './ports.js';

/** API keys live 90 days by default, and never longer. */
export const API_KEY_MAX_SECONDS = 90 * 86400;

const KEY_FORMAT = /^mca_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_FORMAT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const hashSecret = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** A verified API key: its record and parsed scopes. */
export interface ApiKeyIdentity {
  readonly record: ApiKeyRecord;
  readonly scopes: readonly Scope[];
}

/**
 * Mints an API key `mca_<id>_<secret>` (64-bit public id, 256-bit secret) and stores only the SHA-256 of the
 * secret. A fast hash suffices: the secret is random, not a password. Returns the key, which is never stored.
 */
export async function createApiKey(store: ApiKeyStore, clock: Clock, p: { name: string; scopes: readonly string[]; expiresInSeconds?: number; actor: string }): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!NAME_FORMAT.test(p.name)) throw new CaError('ERR_USAGE', `auth: API key name "${p.name}" must be 1-64 letters, digits, ".", "_" or "-"`);
  if (p.scopes.length === 0) throw new CaError('ERR_SCOPE_INVALID', 'auth: an API key needs at least one scope');
  // Stored typed: an untyped `issue:*.acme.internal` is kept as the `issue:dns:*.acme.internal` it means.
  const parsed = p.scopes.map(parseScope);
  for (const scope of parsed) {
    if (scope.kind === 'issue' && scope.pattern.kind === 'spiffe' && isReservedPattern(scope.pattern.text)) {
      throw new CaError('ERR_SCOPE_INVALID', `auth: scope "${scope.text}" names only reserved identities (spiffe://TD/meshca/… belongs to meshca itself), which no key can obtain`);
    }
  }
  const scopes = [...new Set(parsed.map((s) => s.text))];
  const lifetime = p.expiresInSeconds ?? API_KEY_MAX_SECONDS;
  if (lifetime > API_KEY_MAX_SECONDS) throw new CaError('ERR_TTL_TOO_LONG', 'auth: API keys expire within 90 days at most');
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const now = wholeSeconds(clock.now());
  const record: ApiKeyRecord = { id, name: p.name, secretHash: hashSecret(secret), scopes, createdAt: now, expiresAt: addSeconds(now, lifetime), revokedAt: null, lastUsedAt: null, intact: true };
  await store.createApiKey(record, { at: now, actor: p.actor, action: 'apikey-create', target: `apikey:${p.name}`, outcome: 'ok', detail: { id, scopes, expiresAt: record.expiresAt.toISOString() } });
  return { key: `mca_${id}_${secret}`, record };
}

/** Default grace of a rotated key: a day for every holder to pick up the new secret. */
export const API_KEY_ROTATION_GRACE_SECONDS = 86400;

/**
 * Rotates the active key called `name`: a new secret with the same scopes and a fresh lifetime, while the old
 * secret keeps working for `graceSeconds` (then is refused as revoked). Returns the new key, shown once.
 */
export async function rotateApiKey(store: ApiKeyStore, clock: Clock, p: { name: string; graceSeconds?: number; expiresInSeconds?: number; actor: string }): Promise<{ key: string; record: ApiKeyRecord; previous: ApiKeyRecord }> {
  const grace = p.graceSeconds ?? API_KEY_ROTATION_GRACE_SECONDS;
  const lifetime = p.expiresInSeconds ?? API_KEY_MAX_SECONDS;
  if (lifetime > API_KEY_MAX_SECONDS) throw new CaError('ERR_TTL_TOO_LONG', 'auth: API keys expire within 90 days at most');
  if (grace > lifetime) throw new CaError('ERR_USAGE', 'auth: the grace of the old key cannot outlast the new key');
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const now = wholeSeconds(clock.now());
  const done = await store.rotateApiKey(
    p.name,
    (old) => ({ id, name: old.name, secretHash: hashSecret(secret), scopes: old.scopes, createdAt: now, expiresAt: addSeconds(now, lifetime), revokedAt: null, lastUsedAt: null, intact: true }),
    addSeconds(now, grace),
    (old, next) => ({ at: now, actor: p.actor, action: 'apikey-rotate', target: `apikey:${p.name}`, outcome: 'ok', detail: { previous: old.id, id: next.id, previousValidUntil: old.revokedAt!.toISOString(), scopes: next.scopes, expiresAt: next.expiresAt.toISOString() } }),
  );
  if (!done) throw new CaError('ERR_APIKEY_NOT_FOUND', `auth: no active API key is named "${p.name}"`);
  return { key: `mca_${id}_${secret}`, record: done.next, previous: done.old };
}

/** The public id of a well-formed API key, or undefined. */
export function apiKeyId(text: string): string | undefined {
  return KEY_FORMAT.exec(text)?.[1];
}

/** True when `text` has the shape of a meshca API key (so a transport can tell it from a JWT). */
export function looksLikeApiKey(text: string): boolean {
  return text.startsWith('mca_');
}

/** Verifies a presented API key: known id, matching secret (constant time), not revoked, not expired. */
export async function verifyApiKey(store: ApiKeyStore, clock: Clock, presented: string): Promise<ApiKeyIdentity> {
  const m = KEY_FORMAT.exec(presented);
  if (!m) throw new CaError('ERR_APIKEY_INVALID', 'auth: the API key is malformed');
  const record = await store.findApiKey(m[1]!);
  const given = hashSecret(m[2]!);
  if (!record || !timingSafeEqual(record.secretHash, given)) throw new CaError('ERR_APIKEY_INVALID', 'auth: the API key is not valid');
  if (!record.intact) throw new CaError('ERR_APIKEY_INVALID', `auth: API key "${record.name}" was written or changed outside meshca (its seal does not match) and is refused`);
  const now = clock.now();
  // A rotated key has a revocation time in the future: it works until then (the grace for its holders to switch).
  if (record.revokedAt !== null && record.revokedAt <= now) throw new CaError('ERR_APIKEY_REVOKED', `auth: API key "${record.name}" has been revoked (or replaced by ca apikey rotate, and its grace is over)`);
  if (record.expiresAt <= now) throw new CaError('ERR_APIKEY_EXPIRED', `auth: API key "${record.name}" expired at ${record.expiresAt.toISOString()}`);
  // Last-used is kept to the minute: a write (and its fsync) per request would double the cost of a signature.
  if (record.lastUsedAt === null || now.getTime() - record.lastUsedAt.getTime() >= 60_000) await store.touchApiKey(record.id, now);
  return { record, scopes: record.scopes.map(parseScope) };
}

/** An API key as listed (never its secret): its state now, and until when a rotated key still works. */
export function apiKeyJson(k: ApiKeyRecord, now: Date) {
  return {
    name: k.name,
    id: k.id,
    scopes: [...k.scopes],
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    status: !k.intact ? 'tampered' : k.revokedAt !== null && k.revokedAt <= now ? 'revoked' : k.expiresAt <= now ? 'expired' : k.revokedAt !== null ? 'rotated' : 'active',
    ...(k.revokedAt !== null && k.revokedAt > now ? { validUntil: k.revokedAt.toISOString() } : {}),
  };
}
