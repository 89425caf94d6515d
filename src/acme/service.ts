// The ACME server's logic (RFC 8555), without HTTP: nonces, accounts bound by external account keys.

import { randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, flattenedVerify, type JWK } from 'jose';
import type { Clock } from '../crypto/clock.js';
import { wholeSeconds } from '../crypto/clock.js';
import { verifyExternalAccountBinding, type EabKey } from './eab.js';
import { openEabKey } from './eab-keys.js';
import { ACME_ALGORITHMS, importAccountKey, publicJwk, verifyAcmeRequest, type AcmeRequest, type KeyMode } from './jws.js';
import { NonceBook, nonceKey } from './nonces.js';
import type { AcmeAccountRecord, AcmeStore } from './ports.js';
import { problem } from './problem.js';

export interface AcmeServiceOptions {
  readonly store: AcmeStore;
  readonly clock: Clock;
  /** The key EAB HMAC keys are sealed under (see eab-keys.ts). */
  readonly sealingKey: Buffer;
}

/** The URLs the service names things by; the transport knows its own base. */
export interface AcmeUrls {
  account(id: string): string;
  /** The account id a kid names, or undefined for a URL that is not an account of this server. */
  accountId(kid: string): string | undefined;
}

/** An account as ACME shows it (RFC 8555 §7.1.2). */
export function accountJson(a: AcmeAccountRecord, ordersUrl: string): Record<string, unknown> {
  return { status: a.status, contact: [...a.contact], orders: ordersUrl, createdAt: a.createdAt.toISOString() };
}

export class AcmeService {
  private readonly nonces: NonceBook;
  /** Account keys as imported, by algorithm and JWK: importing one costs more than verifying with it. At most 10,000. */
  private readonly accountKeys = new Map<string, Promise<{ jwk: JWK; key: KeyObject }>>();

  constructor(private readonly o: AcmeServiceOptions) {
    this.nonces = new NonceBook({ key: nonceKey(o.sealingKey, o.store.spentNoncesDurable), clock: o.clock, store: o.store });
  }

  /** A fresh nonce (nothing is written until it is spent; any replica can spend it, once). */
  newNonce(): string {
    return this.nonces.issue();
  }

  /** Verifies a request body sent to `url`; a `kid` must name a valid account of this server. */
  verify(body: unknown, url: string, keyMode: KeyMode, urls: AcmeUrls): Promise<AcmeRequest> {
    return verifyAcmeRequest(body, {
      url,
      keyMode,
      consumeNonce: (nonce) => this.nonces.spend(nonce),
      importAccountKey: (jwk, alg) => this.importedKey(jwk, alg),
      accountKey: async (kid) => {
        const id = urls.accountId(kid);
        const account = id === undefined ? undefined : await this.o.store.findAcmeAccount(id);
        return account === undefined ? undefined : { jwk: JSON.parse(account.jwk) as JWK, status: account.status };
      },
    });
  }

  /**
   * newAccount (RFC 8555 §7.3): the existing account of this key, or a new one bound by a valid external account
   * binding (required). `onlyReturnExisting` never creates.
   */
  async newAccount(req: AcmeRequest): Promise<{ account: AcmeAccountRecord; created: boolean }> {
    const payload = req.payload ?? {};
    const existing = await this.o.store.findAcmeAccountByThumbprint(req.thumbprint);
    if (existing) {
      if (existing.status !== 'valid') throw problem('unauthorized', `the account of this key is ${existing.status}`);
      return { account: existing, created: false };
    }
    if (payload.onlyReturnExisting === true) throw problem('accountDoesNotExist', 'no account has this key');
    const contact = contactOf(payload.contact);
    const now = wholeSeconds(this.o.clock.now());
    const eab = await verifyExternalAccountBinding(payload.externalAccountBinding, { url: req.url, accountJwk: req.jwk!, now, lookup: (kid) => this.eabKey(kid) });
    const account: AcmeAccountRecord = { id: randomBytes(12).toString('base64url'), thumbprint: req.thumbprint, jwk: JSON.stringify(req.jwk), status: 'valid', contact, eabKid: eab.kid, createdAt: now };
    return this.o.store.createAcmeAccount(account, { at: now, actor: `acme:${account.id}`, action: 'acme-new-account', target: account.id, outcome: 'ok', detail: { eabKid: eab.kid, eab: eab.name, contact } });
  }

  /** POST to an account URL: read it (POST-as-GET), change its contact, or deactivate it (RFC 8555 §7.3.2, §7.3.6). */
  async updateAccount(req: AcmeRequest, id: string, urls: AcmeUrls): Promise<AcmeAccountRecord> {
    if (req.kid !== urls.account(id)) throw problem('unauthorized', 'a request about an account must be signed by that account');
    const account = await this.o.store.findAcmeAccount(id);
    if (!account) throw problem('accountDoesNotExist', 'no such account');
    const payload = req.payload;
    if (payload === undefined) return account;
    const change: { contact?: string[]; status?: 'deactivated' } = {};
    if (payload.contact !== undefined) change.contact = contactOf(payload.contact);
    if (payload.status !== undefined) {
      if (payload.status !== 'deactivated') throw problem('malformed', 'an account can only be set to "deactivated"');
      change.status = 'deactivated';
    }
    if (Object.keys(change).length === 0) return account;
    const now = wholeSeconds(this.o.clock.now());
    const updated = await this.o.store.updateAcmeAccount(id, change, { at: now, actor: `acme:${id}`, action: change.status ? 'acme-deactivate-account' : 'acme-update-account', target: id, outcome: 'ok', detail: change });
    if (!updated) throw problem('accountDoesNotExist', 'no such account');
    return updated;
  }

  /**
   * keyChange (RFC 8555 §7.3.5): the outer request is signed by the account's key, the inner JWS (its payload) by the
   * new key, for the same URL and without a nonce, naming the account and its old key.
   */
  async keyChange(req: AcmeRequest, urls: AcmeUrls): Promise<AcmeAccountRecord> {
    const id = urls.accountId(req.kid!)!;
    const account = await this.account(id);
    const inner = req.payload;
    if (inner === undefined || typeof inner.protected !== 'string' || typeof inner.payload !== 'string' || typeof inner.signature !== 'string') throw problem('malformed', 'keyChange carries a flattened JWS signed by the new key');
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(inner.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw problem('malformed', 'the inner protected header is not base64url JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw problem('malformed', 'the inner protected header is not a JSON object');
    if (header.url !== req.url) throw problem('malformed', 'the inner JWS must have the outer one\'s url');
    if ('nonce' in header) throw problem('malformed', 'the inner JWS must not carry a nonce');
    if (header.kid !== undefined || header.jwk === undefined) throw problem('malformed', 'the inner JWS is signed with the new key, named by jwk');
    if (typeof header.alg !== 'string' || !(ACME_ALGORITHMS as readonly string[]).includes(header.alg)) throw problem('badSignatureAlgorithm', `the algorithm ${JSON.stringify(header.alg)} is not accepted`, { algorithms: [...ACME_ALGORITHMS] });
    const { jwk, key } = await publicJwk(header.jwk, header.alg);
    let body: Record<string, unknown>;
    try {
      await flattenedVerify({ protected: inner.protected, payload: inner.payload, signature: inner.signature }, key, { algorithms: [header.alg] });
      body = JSON.parse(Buffer.from(inner.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw problem('malformed', 'the inner JWS does not verify with the new key');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw problem('malformed', 'the inner payload is not a JSON object');
    if (body.account !== req.kid) throw problem('malformed', 'the inner payload names another account');
    if (typeof body.oldKey !== 'object' || body.oldKey === null || (await calculateJwkThumbprint(body.oldKey as JWK, 'sha256').catch(() => '')) !== account.thumbprint) throw problem('malformed', 'oldKey is not the account\'s current key');
    const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    const holder = await this.o.store.findAcmeAccountByThumbprint(thumbprint);
    if (holder) throw problem('malformed', 'the new key belongs to an account already', { location: urls.account(holder.id) }, 409);
    const now = wholeSeconds(this.o.clock.now());
    const updated = await this.o.store.updateAcmeAccount(id, { jwk: JSON.stringify(jwk), thumbprint }, { at: now, actor: `acme:${id}`, action: 'acme-key-change', target: id, outcome: 'ok', detail: { from: account.thumbprint, to: thumbprint } }, account.thumbprint).catch((e: unknown) => {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_ACME_KEY_IN_USE') throw problem('malformed', 'the new key belongs to an account already', {}, 409);
      if (code === 'ERR_ACME_KEY_CHANGED') throw problem('malformed', 'the account\'s key was changed by another request meanwhile: sign with the current key', {}, 409);
      throw e;
    });
    if (!updated) throw problem('accountDoesNotExist', 'no such account');
    return updated;
  }

  private importedKey(jwk: JWK, alg: string): Promise<{ jwk: JWK; key: KeyObject }> {
    const id = `${alg} ${JSON.stringify(jwk)}`;
    let entry = this.accountKeys.get(id);
    if (!entry) {
      entry = importAccountKey(jwk, alg);
      if (this.accountKeys.size >= 10_000) this.accountKeys.delete(this.accountKeys.keys().next().value!);
      this.accountKeys.set(id, entry);
    }
    return entry;
  }

  /** The valid account `id` (verify() has checked it exists and is valid). */
  async account(id: string): Promise<AcmeAccountRecord> {
    const account = await this.o.store.findAcmeAccount(id);
    if (!account || account.status !== 'valid') throw problem('accountDoesNotExist', 'no valid account');
    return account;
  }

  private async eabKey(kid: string): Promise<EabKey | undefined> {
    const record = await this.o.store.findEabKey(kid);
    if (!record) return undefined;
    return { kid: record.kid, name: record.name, hmacKey: openEabKey(this.o.sealingKey, record.kid, record.sealedKey), expiresAt: record.expiresAt, revokedAt: record.revokedAt };
  }
}

/** `contact`: at most four mailto: URLs (RFC 8555 §7.3 leaves the schemes to the server). */
function contactOf(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 4 || !value.every((c) => typeof c === 'string' && /^mailto:[^\s,@]+@[^\s,@]+$/.test(c) && c.length <= 254)) {
    throw problem('malformed', 'contact is a list of at most four mailto: addresses (one address each)');
  }
  return value as string[];
}
