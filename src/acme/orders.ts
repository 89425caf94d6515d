// ACME orders (RFC 8555 §7.4): identifiers an account's scopes allow, their authorizations and challenges, and finalize.

import { randomBytes } from 'node:crypto';
import { parseScope, scopesAllowIdentity } from '../auth/scopes.js';
import type { Authority } from '../authority/authority.js';
import { addSeconds, wholeSeconds, type Clock } from '../crypto/clock.js';
import { x509 } from '../crypto/x509.js';
import { CaError } from '../errors.js';
import { toPem } from '../crypto/pem.js';
import { spkiOf } from '../crypto/keys.js';
import { readCertificate } from '../pki/certificate.js';
import { REVOCATION_REASONS, type RevocationReason } from '../revocation/reasons.js';
import { parseDnsName, parseIpAddress } from '../identity/names.js';
import { parseSpiffeIdIn } from '../identity/spiffe.js';
import { isReservedSpiffeId } from '../identity/reserved.js';
import type { AcmeRequest } from './jws.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeIdentifier, AcmeOrderRecord, AcmeStore, EabKeyRecord } from './ports.js';
import { AcmeProblem, problem } from './problem.js';
import { keyAuthorization, validateHttp01, validateTlsAlpn01, type ValidationRoute } from './validation.js';

/** How long an order and its authorizations stay open. */
const ORDER_SECONDS = 3600;
const MAX_IDENTIFIERS = 10;
/** Validation attempts connecting at once, per process; challenges waiting beyond these are queued, up to the next. */
const MAX_VALIDATING = 32;
const MAX_WAITING = 1000;
/** Challenges one account may have validating or waiting at once (so no account fills the queue for the others). */
const MAX_VALIDATING_PER_ACCOUNT = 50;
/** Open orders (unexpired, without a certificate) per account: at most this many new ones an hour. */
const MAX_OPEN_ORDERS = 300;

export interface OrdersOptions {
  readonly store: AcmeStore;
  readonly authority: Authority;
  readonly clock: Clock;
  readonly route: ValidationRoute;
  /** Attempts per challenge, a second apart (a client that put its answer up a moment late still passes). */
  readonly attempts?: number;
}

const id = (): string => randomBytes(12).toString('base64url');

/** The identifier, checked and in canonical form; `rejectedIdentifier` or `unsupportedIdentifier` otherwise. */
function canonicalIdentifier(value: unknown, authority: Authority): AcmeIdentifier {
  const i = value as { type?: unknown; value?: unknown } | null;
  if (typeof i !== 'object' || i === null || typeof i.value !== 'string') throw problem('malformed', 'each identifier is {type, value}');
  // A wildcard proves control of a zone, which only dns-01 shows; this CA offers http-01 and tls-alpn-01 (RFC 8737 §3).
  if (i.type === 'dns' && i.value.startsWith('*.')) throw problem('rejectedIdentifier', `dns identifier "${i.value.slice(0, 100)}": wildcard names need dns-01 validation, which this CA does not offer: order the names themselves`);
  try {
    if (i.type === 'dns') return { type: 'dns', value: parseDnsName(i.value, { allowWildcards: false }) };
    if (i.type === 'ip') return { type: 'ip', value: parseIpAddress(i.value).text };
    if (i.type === 'spiffe') {
      const id = parseSpiffeIdIn(i.value, authority.trustDomain);
      if (isReservedSpiffeId(id)) throw new Error(`${id.uri} is reserved for meshca itself and never issued on request`);
      return { type: 'spiffe', value: id.uri };
    }
  } catch (e) {
    throw problem('rejectedIdentifier', `${String(i.type)} identifier "${i.value.slice(0, 100)}": ${(e as Error).message.replace(/^\w+: /, '')}`);
  }
  throw problem('unsupportedIdentifier', `identifier type ${JSON.stringify(i.type)} is not supported (dns, ip, or meshca's spiffe)`);
}

export class AcmeOrders {
  private validating = 0;
  private readonly waiting: Array<() => void> = [];
  /** Challenges validating or waiting, per account. */
  private readonly perAccount = new Map<string, number>();

  constructor(private readonly o: OrdersOptions) {}

  /** Runs one validation attempt when fewer than MAX_VALIDATING are connecting (file descriptors are finite). */
  private async attempt(run: () => Promise<void>): Promise<void> {
    // A finishing attempt hands its slot to the first waiting one.
    if (this.validating >= MAX_VALIDATING) await new Promise<void>((go) => this.waiting.push(go));
    else this.validating++;
    try {
      await run();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.validating--;
    }
  }

  /** newOrder: every identifier must be one the account's external account key grants (its issue: scopes). */
  async newOrder(req: AcmeRequest, account: AcmeAccountRecord): Promise<{ order: AcmeOrderRecord; authorizations: AcmeAuthorizationRecord[] }> {
    const eab = await this.boundKey(account);
    const now = wholeSeconds(this.o.clock.now());
    const raw = req.payload?.identifiers;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_IDENTIFIERS) throw problem('malformed', `identifiers is a list of 1 to ${MAX_IDENTIFIERS}`);
    if (req.payload?.notBefore !== undefined || req.payload?.notAfter !== undefined) throw problem('malformed', 'notBefore and notAfter are not supported: the lifetime is the CA\'s');
    const identifiers = raw.map((r) => canonicalIdentifier(r, this.o.authority));
    const seen = new Set<string>();
    for (const i of identifiers) {
      if (seen.has(`${i.type}:${i.value}`)) throw problem('malformed', `identifier ${i.value} is listed twice`);
      seen.add(`${i.type}:${i.value}`);
    }
    if (identifiers.filter((i) => i.type === 'spiffe').length > 1) throw problem('rejectedIdentifier', 'an order holds at most one SPIFFE ID');
    const scopes = eab.scopes.map((s) => parseScope(s));
    const denied = identifiers.filter((i) => !scopesAllowIdentity(scopes, { kind: i.type, value: i.value }));
    if (denied.length > 0) throw problem('rejectedIdentifier', `this account may not order ${denied.map((d) => d.value).join(', ')} (its external account key grants ${eab.scopes.join(' ')})`);
    const order: AcmeOrderRecord = { id: id(), accountId: account.id, status: 'pending', identifiers, createdAt: now, expiresAt: addSeconds(now, ORDER_SECONDS), error: null, certificateSerial: null };
    // A SPIFFE ID is not a network name anyone can be asked to prove: the account's scope is its authorization.
    const authorizations: AcmeAuthorizationRecord[] = identifiers.map((identifier) => ({ id: id(), orderId: order.id, accountId: account.id, identifier, status: identifier.type === 'spiffe' ? 'valid' : 'pending', expiresAt: order.expiresAt }));
    const challenges: AcmeChallengeRecord[] = authorizations.flatMap((a) =>
      a.identifier.type === 'spiffe' ? [] : (a.identifier.type === 'dns' ? (['http-01', 'tls-alpn-01'] as const) : (['http-01'] as const)).map((type) => ({ id: id(), authorizationId: a.id, type, token: randomBytes(32).toString('base64url'), status: 'pending' as const, validatedAt: null, error: null })),
    );
    const ready = authorizations.every((a) => a.status === 'valid');
    const stored = ready ? { ...order, status: 'ready' as const } : order;
    await this.o.store.createAcmeOrder(stored, authorizations, challenges, { at: now, actor: `acme:${account.id}`, action: 'acme-new-order', target: order.id, outcome: 'ok', detail: { identifiers } }, MAX_OPEN_ORDERS).catch((e: unknown) => {
      throw e instanceof CaError && e.code === 'ERR_ACME_TOO_MANY_ORDERS' ? problem('rateLimited', `this account has ${MAX_OPEN_ORDERS} open orders: finish them or let them expire (an hour) first`) : e;
    });
    // Orders that expired a day ago without a certificate go a few at a time, with the new ones.
    await this.o.store.pruneAcmeOrders(addSeconds(now, -86400), 16).catch(() => 0);
    return { order: stored, authorizations };
  }

  /** The EAB key the account was bound with, while it is not revoked: revoking it cuts off its accounts at every step. */
  private async boundKey(account: AcmeAccountRecord): Promise<EabKeyRecord> {
    const eab = await this.o.store.findEabKey(account.eabKid);
    if (!eab || eab.revokedAt !== null) throw problem('unauthorized', 'the external account key this account was bound with has been revoked: this account can no longer order, validate or finalize');
    return eab;
  }

  /**
   * A client says a challenge is ready: it is validated in the background (the answer says `processing`), a second
   * apart up to `attempts` times; the authorization, then the order, follow its outcome. Only one replica validates.
   */
  async respond(account: AcmeAccountRecord, challengeId: string): Promise<AcmeChallengeRecord> {
    const challenge = await this.o.store.findAcmeChallenge(challengeId);
    const authz = challenge ? await this.o.store.findAcmeAuthorization(challenge.authorizationId) : undefined;
    if (!challenge || !authz || authz.accountId !== account.id) throw problem('malformed', 'no such challenge for this account');
    if (authz.expiresAt <= this.o.clock.now()) throw problem('malformed', `the authorization expired at ${authz.expiresAt.toISOString()}: place a new order`);
    await this.boundKey(account);
    if (challenge.status !== 'pending') return challenge;
    const mine = this.perAccount.get(account.id) ?? 0;
    if (mine >= MAX_VALIDATING_PER_ACCOUNT) throw problem('rateLimited', `this account has ${mine} challenges being validated: answer this one again when they are done`);
    if (this.waiting.length >= MAX_WAITING) throw problem('rateLimited', `the CA has ${this.waiting.length} challenges waiting to be validated: answer this one again shortly`, {}, 503);
    if (!(await this.o.store.updateAcmeChallenge(challenge.id, { status: 'processing' }, 'pending'))) return (await this.o.store.findAcmeChallenge(challengeId))!;
    this.perAccount.set(account.id, (this.perAccount.get(account.id) ?? 0) + 1);
    void this.validate(challenge, authz, keyAuthorization(challenge.token, account.thumbprint)).finally(() => {
      const left = (this.perAccount.get(account.id) ?? 1) - 1;
      if (left > 0) this.perAccount.set(account.id, left);
      else this.perAccount.delete(account.id);
    });
    return { ...challenge, status: 'processing' };
  }

  private async validate(challenge: AcmeChallengeRecord, authz: AcmeAuthorizationRecord, expected: string): Promise<void> {
    let failure: AcmeProblem | undefined;
    for (let attempt = 0; attempt < (this.o.attempts ?? 3); attempt++) {
      try {
        await this.attempt(() => (challenge.type === 'http-01' ? validateHttp01(authz.identifier.value, challenge.token, expected, this.o.route) : validateTlsAlpn01(authz.identifier.value, expected, this.o.route)));
        failure = undefined;
        break;
      } catch (e) {
        failure = e instanceof AcmeProblem ? e : problem('serverInternal', 'validation failed');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    const target = { challengeId: challenge.id, authorizationId: authz.id, orderId: authz.orderId };
    await this.o.store.settleAcmeChallenge(target, failure === undefined ? { valid: true, at: wholeSeconds(this.o.clock.now()) } : { valid: false, error: JSON.stringify(failure.document()) }).catch(() => {
      // The database out of reach: the challenge stays processing until the order expires.
    });
  }

  async order(account: AcmeAccountRecord, orderId: string): Promise<AcmeOrderRecord> {
    const order = await this.o.store.findAcmeOrder(orderId);
    if (!order || order.accountId !== account.id) throw problem('malformed', 'no such order for this account');
    return this.current(order);
  }

  /** The order as it stands now: one still open past its expiry is `invalid` (RFC 8555 §7.1.6), and stored so. */
  private async current(order: AcmeOrderRecord): Promise<AcmeOrderRecord> {
    if ((order.status !== 'pending' && order.status !== 'ready') || order.expiresAt > this.o.clock.now()) return order;
    const error = JSON.stringify(problem('malformed', `the order expired at ${order.expiresAt.toISOString()}: place a new one`).document());
    return (await this.o.store.updateAcmeOrder(order.id, { status: 'invalid', error }, order.status)) ?? (await this.o.store.findAcmeOrder(order.id))!;
  }

  /** An account's orders, newest first (the last thousand). */
  ordersOf(account: AcmeAccountRecord): Promise<AcmeOrderRecord[]> {
    return this.o.store.listAcmeOrders(account.id, 1000);
  }

  authorizationsOf(orderId: string): Promise<AcmeAuthorizationRecord[]> {
    return this.o.store.acmeAuthorizationsOf(orderId);
  }

  async authorization(account: AcmeAccountRecord, authzId: string): Promise<{ authorization: AcmeAuthorizationRecord; challenges: AcmeChallengeRecord[] }> {
    const authorization = await this.o.store.findAcmeAuthorization(authzId);
    if (!authorization || authorization.accountId !== account.id) throw problem('malformed', 'no such authorization for this account');
    if ((authorization.status === 'pending' || authorization.status === 'valid') && authorization.expiresAt <= this.o.clock.now()) {
      await this.o.store.updateAcmeAuthorization(authzId, 'expired');
      return { authorization: { ...authorization, status: 'expired' }, challenges: await this.o.store.acmeChallengesOf(authzId) };
    }
    return { authorization, challenges: await this.o.store.acmeChallengesOf(authzId) };
  }

  async challenge(account: AcmeAccountRecord, challengeId: string): Promise<AcmeChallengeRecord> {
    const challenge = await this.o.store.findAcmeChallenge(challengeId);
    const authz = challenge ? await this.o.store.findAcmeAuthorization(challenge.authorizationId) : undefined;
    if (!challenge || authz?.accountId !== account.id) throw problem('malformed', 'no such challenge for this account');
    return challenge;
  }

  /** The certificate of a valid order: the leaf and the intermediate that signed it, PEM, and that issuer's key id. */
  async certificatePem(account: AcmeAccountRecord, orderId: string): Promise<{ pem: string; issuerKeyId: string }> {
    const order = await this.order(account, orderId);
    const record = order.certificateSerial === null ? undefined : await this.o.authority.find(order.certificateSerial);
    if (!record) throw problem('malformed', 'this order has no certificate (yet)');
    return { pem: `${toPem('CERTIFICATE', record.der)}${this.o.authority.chainFor({ issuerKeyId: record.issuerKeyId })}`, issuerKeyId: record.issuerKeyId };
  }

  /**
   * revokeCert (RFC 8555 §7.6): by the account that ordered the certificate (kid), or by whoever holds its key (the
   * request signed with it, jwk). The revocation is the authority's, recorded and published like any other.
   */
  async revoke(req: AcmeRequest, account: AcmeAccountRecord | undefined): Promise<void> {
    const text = req.payload?.certificate;
    if (typeof text !== 'string') throw problem('malformed', 'revokeCert takes {certificate: base64url DER, reason?}');
    let serial: string;
    let spki: Buffer;
    try {
      const cert = readCertificate(Buffer.from(text, 'base64url'));
      serial = cert.serial;
      spki = cert.spki;
    } catch {
      throw problem('malformed', 'the certificate is not readable DER');
    }
    const code = req.payload?.reason ?? 0;
    const reason = (Object.entries(REVOCATION_REASONS).find(([, c]) => c === code)?.[0] ?? undefined) as RevocationReason | undefined;
    if (reason === undefined || reason === 'cACompromise' || reason === 'aACompromise') throw problem('badRevocationReason', `reason ${JSON.stringify(code)} is not one this CA uses (0, 1, 3, 4, 5, 9; 2 and 10 are for CAs)`);
    const record = await this.o.authority.find(serial);
    if (!record || record.kind !== 'leaf' || !record.der.equals(Buffer.from(text, 'base64url'))) throw problem('unauthorized', 'this CA did not issue that certificate');
    if (account) {
      if ((await this.o.store.acmeOrderOfCertificate(serial))?.accountId !== account.id) throw problem('unauthorized', 'this account did not order that certificate (sign with the certificate\'s key instead)');
    } else if (!spkiOf(req.key).equals(spki)) throw problem('unauthorized', 'the request is signed with neither the ordering account\'s key nor the certificate\'s');
    const actor = account ? `acme:${account.id}` : `acme-key:${serial}`;
    if (record.revokedAt !== null) {
      // keyCompromise is about the key: reported after another revocation, it still blocks the key (README).
      if (reason === 'keyCompromise') await this.o.authority.revoke(serial, reason, { actor });
      throw problem('alreadyRevoked', `certificate ${serial} was revoked at ${record.revokedAt.toISOString()}${reason === 'keyCompromise' ? ' (its key is now blocked as compromised)' : ''}`);
    }
    await this.o.authority.revoke(serial, reason, { actor });
  }

  /** finalize (RFC 8555 §7.4): a CSR for exactly the order's identifiers, issued through the authority like any leaf. */
  async finalize(req: AcmeRequest, account: AcmeAccountRecord, orderId: string): Promise<AcmeOrderRecord> {
    const order = await this.order(account, orderId);
    await this.boundKey(account);
    if (order.status === 'pending') throw problem('orderNotReady', 'the order\'s authorizations are not all valid yet');
    if (order.status !== 'ready') throw problem('orderNotReady', `the order is ${order.status}`);
    const csrText = req.payload?.csr;
    if (typeof csrText !== 'string') throw problem('malformed', 'finalize takes {csr: base64url DER}');
    const der = Buffer.from(csrText, 'base64url');
    let names: AcmeIdentifier[];
    try {
      const csr = new x509.Pkcs10CertificateRequest(der);
      const san = csr.getExtension('2.5.29.17');
      const general = san ? new x509.SubjectAlternativeNameExtension(san.rawData).names.items : [];
      names = general.map((n): AcmeIdentifier => (n.type === 'dns' ? { type: 'dns', value: n.value.toLowerCase() } : n.type === 'ip' ? { type: 'ip', value: parseIpAddress(n.value).text } : n.type === 'url' ? { type: 'spiffe', value: n.value } : { type: 'dns', value: `\u0000${n.type}` }));
    } catch {
      throw problem('badCSR', 'the CSR is not a readable PKCS#10 request');
    }
    const key = (i: AcmeIdentifier) => `${i.type}:${i.value}`;
    const want = new Set(order.identifiers.map(key));
    const got = new Set(names.map(key));
    if (want.size !== got.size || [...want].some((k) => !got.has(k))) throw problem('badCSR', `the CSR must name exactly the order's identifiers (${order.identifiers.map((i) => i.value).join(', ')})`);
    if (!(await this.o.store.updateAcmeOrder(order.id, { status: 'processing' }, 'ready'))) throw problem('orderNotReady', 'the order is already being finalized');
    const dnsNames = order.identifiers.filter((i) => i.type === 'dns').map((i) => i.value);
    const ipAddresses = order.identifiers.filter((i) => i.type === 'ip').map((i) => i.value);
    const spiffeId = order.identifiers.find((i) => i.type === 'spiffe')?.value;
    try {
      // The subject CN is informational (the names are in the SAN): the first that fits its 64 characters.
      const commonName = [...dnsNames, ...ipAddresses, spiffeId ?? ''].find((n) => n.length > 0 && n.length <= 64) ?? (dnsNames[0] ?? spiffeId ?? '').slice(0, 64);
      const leaf = await this.o.authority.issue({ commonName, dnsNames, ipAddresses, spiffeId, key: { csr: der } }, { actor: `acme:${account.id}` });
      // The key revoked while this was signed: what was issued before the revocation committed stands; after, it goes.
      if ((await this.o.store.findEabKey(account.eabKid))?.revokedAt != null) {
        await this.o.authority.revoke(leaf.serial, 'privilegeWithdrawn', { actor: `acme:${account.id}` });
        throw problem('unauthorized', 'the external account key this account was bound with was revoked while the certificate was signed: it was revoked too');
      }
      return (await this.o.store.updateAcmeOrder(order.id, { status: 'valid', certificateSerial: leaf.serial }))!;
    } catch (e) {
      // The database out of reach: the order is still good, and the client may finalize again.
      if (e instanceof CaError && e.code === 'ERR_DATABASE_UNAVAILABLE') {
        await this.o.store.updateAcmeOrder(order.id, { status: 'ready' }, 'processing').catch(() => undefined);
        throw e;
      }
      const p = e instanceof AcmeProblem ? e : problem('badCSR', (e as Error).message.replace(/^\w+: /, ''));
      await this.o.store.updateAcmeOrder(order.id, { status: 'invalid', error: JSON.stringify(p.document()) });
      throw p;
    }
  }
}
