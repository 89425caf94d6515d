// How the CA's records are laid out in rows, the same for SQLite and PostgreSQL: seconds, JSON arrays, sealed API keys.

import { CaError } from '../errors.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeIdentifier, AcmeOrderRecord, EabKeyRecord } from '../acme/ports.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord } from '../auth/ports.js';
import type { AuditEvent, AuditRecord, CertificateKind, CertificateRecord, StoredCrl } from '../authority/ports.js';
import type { AdviceSelector, RenewalAdvice } from '../authority/renewal-advice.js';
import type { RevocationReason } from '../revocation/reasons.js';

export const toSeconds = (d: Date): number => Math.floor(d.getTime() / 1000);
export const fromSeconds = (s: number): Date => new Date(s * 1000);

/** A `certificates` row. */
export interface CertificateRow {
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
  requested_by: string | null;
}

export function toRecord(r: CertificateRow): CertificateRecord {
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
    requestedBy: r.requested_by ?? null,
  };
}

export function toRow(record: CertificateRecord): CertificateRow {
  return {
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
    requested_by: record.requestedBy ?? null,
  };
}

/** An `api_keys` row. */
export interface ApiKeyRow {
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
 * write the database but not read private/ does not match it.
 */
export function apiKeySeal(sealKey: Buffer, r: Pick<ApiKeyRow, 'id' | 'name' | 'secret_hash' | 'scopes' | 'created_at' | 'expires_at' | 'revoked_at'>): Buffer {
  return createHmac('sha256', sealKey).update(JSON.stringify(['api-key', r.id, r.name, Buffer.from(r.secret_hash).toString('hex'), r.scopes, r.created_at, r.expires_at, r.revoked_at])).digest();
}

export function toApiKey(r: ApiKeyRow, sealKey: Buffer): ApiKeyRecord {
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

/** A new API key's row, sealed. */
export function newApiKeyRow(record: ApiKeyRecord, sealKey: Buffer): ApiKeyRow {
  const row = { id: record.id, name: record.name, secret_hash: record.secretHash, scopes: JSON.stringify(record.scopes), created_at: toSeconds(record.createdAt), expires_at: toSeconds(record.expiresAt), revoked_at: null, last_used_at: null };
  return { ...row, seal: apiKeySeal(sealKey, row) };
}

/** `row` revoked as of `at` (seconds), resealed. */
export function revokedApiKeyRow(row: ApiKeyRow, at: number, sealKey: Buffer): ApiKeyRow {
  const revoked = { ...row, revoked_at: at };
  return { ...revoked, seal: apiKeySeal(sealKey, revoked) };
}

/** An `audit_log` row as read back. */
export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditEvent['outcome'];
  detail: string | null;
}

/** An audit event's stored content (everything but its id and seals). */
export function auditContent(event: AuditEvent): Omit<AuditRow, 'id'> {
  return { at: toSeconds(event.at), actor: event.actor, action: event.action, target: event.target, outcome: event.outcome, detail: event.detail === undefined ? null : JSON.stringify(event.detail) };
}

export function toAuditRecord(r: AuditRow): AuditRecord {
  return {
    id: r.id,
    at: fromSeconds(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) as Record<string, unknown> }),
  };
}

/** A `crls` row. */
export interface CrlRow {
  issuer_key_id: string;
  level: 'root' | 'intermediate';
  number: number;
  der: Buffer;
  this_update: number;
  next_update: number;
  revocation_seq: number;
}

export function toStoredCrl(r: CrlRow): StoredCrl {
  return { issuerKeyId: r.issuer_key_id, level: r.level, number: BigInt(r.number), der: r.der, thisUpdate: fromSeconds(Number(r.this_update)), nextUpdate: fromSeconds(Number(r.next_update)), revocationSeq: Number(r.revocation_seq) };
}

/** A `renewal_advice` row (without its id when it is about to be written). */
export interface AdviceRow {
  id: number;
  created_at: number;
  actor: string;
  selector: AdviceSelector['kind'];
  serial: string | null;
  identity: string | null;
  issued_before: number | null;
  window_start: number;
  window_end: number;
  explanation_url: string | null;
}

export function toAdviceRow(a: Omit<RenewalAdvice, 'id'>): Omit<AdviceRow, 'id'> {
  const s = a.selector;
  return {
    created_at: toSeconds(a.createdAt),
    actor: a.actor,
    selector: s.kind,
    serial: s.kind === 'serial' ? s.serial : null,
    identity: s.kind === 'identity' ? s.pattern : null,
    issued_before: s.kind === 'issued-before' ? toSeconds(s.before) : null,
    window_start: toSeconds(a.windowStart),
    window_end: toSeconds(a.windowEnd),
    explanation_url: a.explanationUrl,
  };
}

export function toAdvice(r: AdviceRow): RenewalAdvice {
  const selector: AdviceSelector =
    r.selector === 'serial' ? { kind: 'serial', serial: r.serial! }
    : r.selector === 'identity' ? { kind: 'identity', pattern: r.identity! }
    : r.selector === 'issued-before' ? { kind: 'issued-before', before: fromSeconds(Number(r.issued_before)) }
    : { kind: 'all' };
  return { id: Number(r.id), createdAt: fromSeconds(Number(r.created_at)), actor: r.actor, selector, windowStart: fromSeconds(Number(r.window_start)), windowEnd: fromSeconds(Number(r.window_end)), explanationUrl: r.explanation_url };
}

/** The audit row of a stored rule: its id added to the detail. */
export function adviceAudit(audit: AuditEvent, id: number): AuditEvent {
  return { ...audit, detail: { ...audit.detail, adviceId: id } };
}

/** An `acme_eab_keys` row as either store reads it back. */
export interface EabKeyRow {
  kid: string;
  name: string;
  scopes: string;
  sealed_key: Buffer | Uint8Array;
  created_at: number | string;
  expires_at: number | string;
  revoked_at: number | string | null;
  last_used_at: number | string | null;
}

export function toEabKey(r: EabKeyRow): EabKeyRecord {
  const at = (v: number | string | null) => (v === null ? null : fromSeconds(Number(v)));
  return { kid: r.kid, name: r.name, scopes: JSON.parse(r.scopes) as string[], sealedKey: Buffer.from(r.sealed_key), createdAt: fromSeconds(Number(r.created_at)), expiresAt: fromSeconds(Number(r.expires_at)), revokedAt: at(r.revoked_at), lastUsedAt: at(r.last_used_at) };
}

/** The refusal of a second unrevoked EAB key with one name (both stores). */
export function eabNameTaken(name: string): CaError {
  return new CaError('ERR_EAB_NAME_TAKEN', `acme: an unrevoked external account key is already named "${name}" (revoke it first)`);
}

/** An `acme_accounts` row as either store reads it back. */
export interface AcmeAccountRow {
  id: string;
  thumbprint: string;
  jwk: string;
  status: AcmeAccountRecord['status'];
  contact: string;
  eab_kid: string;
  created_at: number | string;
}

export function toAcmeAccount(r: AcmeAccountRow): AcmeAccountRecord {
  return { id: r.id, thumbprint: r.thumbprint, jwk: r.jwk, status: r.status, contact: JSON.parse(r.contact) as string[], eabKid: r.eab_kid, createdAt: fromSeconds(Number(r.created_at)) };
}

/** The refusal of a keyChange to a key another account holds (both stores). */
export function acmeKeyInUse(): CaError {
  return new CaError('ERR_ACME_KEY_IN_USE', 'acme: the new key belongs to another account');
}

export function acmeKeyChanged(): CaError {
  return new CaError('ERR_ACME_KEY_CHANGED', "acme: the account's key changed meanwhile");
}

export function acmeTooManyOrders(max: number): CaError {
  return new CaError('ERR_ACME_TOO_MANY_ORDERS', `acme: the account has ${max} open orders: finish or let them expire first`);
}

export interface AcmeOrderRow { id: string; account_id: string; status: AcmeOrderRecord['status']; identifiers: string; created_at: number | string; expires_at: number | string; error: string | null; certificate_serial: string | null }
export interface AcmeAuthorizationRow { id: string; order_id: string; account_id: string; identifier_type: AcmeIdentifier['type']; identifier_value: string; status: AcmeAuthorizationRecord['status']; expires_at: number | string }
export interface AcmeChallengeRow { id: string; authorization_id: string; type: AcmeChallengeRecord['type']; token: string; status: AcmeChallengeRecord['status']; validated_at: number | string | null; error: string | null }

export const toAcmeOrder = (r: AcmeOrderRow): AcmeOrderRecord => ({ id: r.id, accountId: r.account_id, status: r.status, identifiers: JSON.parse(r.identifiers) as AcmeIdentifier[], createdAt: fromSeconds(Number(r.created_at)), expiresAt: fromSeconds(Number(r.expires_at)), error: r.error, certificateSerial: r.certificate_serial });
export const toAcmeAuthorization = (r: AcmeAuthorizationRow): AcmeAuthorizationRecord => ({ id: r.id, orderId: r.order_id, accountId: r.account_id, identifier: { type: r.identifier_type, value: r.identifier_value }, status: r.status, expiresAt: fromSeconds(Number(r.expires_at)) });
export const toAcmeChallenge = (r: AcmeChallengeRow): AcmeChallengeRecord => ({ id: r.id, authorizationId: r.authorization_id, type: r.type, token: r.token, status: r.status, validatedAt: r.validated_at === null ? null : fromSeconds(Number(r.validated_at)), error: r.error });
