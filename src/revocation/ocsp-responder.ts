// The OCSP responder: answers requests from a Source, signs with the delegated signer, and serves nonce-less
// requests from a cache of pre-signed responses so the hot path is a lookup.

import { createHash } from 'node:crypto';
import { addSeconds, wholeSeconds, type Clock } from '../crypto/clock.js';
import { createOcspRequest, ocspErrorResponse, parseOcspRequest, signOcspResponse, issuerHashes, type OcspRequest, type OcspSigner, type SingleAnswer } from './ocsp.js';
import type { OcspSource } from './ocsp-source.js';
import type { RevocationReason } from './reasons.js';
import { SigningBudget } from './signing-budget.js';

/** `answer(request)` for a request that parses; `malformedRequest` for anything else (a request never raises). */
async function parsedOr(der: Buffer, answer: (request: OcspRequest) => Promise<OcspAnswer>): Promise<OcspAnswer> {
  let request: OcspRequest;
  try {
    request = parseOcspRequest(der);
  } catch {
    return { body: ocspErrorResponse('malformedRequest') };
  }
  return answer(request);
}

/** An answer ready to send: the DER and what HTTP caching needs. */
export interface OcspAnswer {
  readonly body: Buffer;
  /** Set for successful responses without a nonce: identical requests get identical bytes until `nextUpdate`. */
  readonly cache?: { readonly thisUpdate: Date; readonly nextUpdate: Date; readonly etag: string };
}

export interface OcspResponderOptions {
  readonly issuerSubject: Buffer;
  readonly issuerKeyBits: Buffer;
  readonly source: OcspSource;
  readonly clock: Clock;
  /** nextUpdate - thisUpdate of every response. */
  readonly validitySeconds: number;
  /** Most pre-signed responses kept (default 100,000; the oldest goes first). */
  readonly cacheSize?: number;
  /** Responses signed on the fly (nonce, cache miss) per client address per second; 0 for no limit. Default 200. */
  readonly signPerClientPerSecond?: number;
  /** A budget shared with the responders of other issuers (instead of `signPerClientPerSecond`). */
  readonly budget?: SigningBudget;
  /** Told when the source could not be read (the database is down): the request got a cached answer or `tryLater`. */
  readonly onSourceError?: (e: unknown) => void;
}

interface Cached {
  readonly answer: OcspAnswer & { cache: NonNullable<OcspAnswer['cache']> };
  readonly serial: string;
  /** A revocation, once answered, stays one: only these may serve as the stream's statements. */
  readonly revoked: boolean;
  readonly refreshAt: number;
}

/**
 * Answers OCSP requests for one issuer. Malformed input gets `malformedRequest` and a CertID for another issuer
 * `unauthorized`: a request never raises. Pre-signed answers are keyed by hash algorithm and serial (at most eight
 * entries per serial, however the request is encoded), and each client may have only so many answers signed on
 * the fly: past that, a nonce request gets the pre-signed answer without its nonce, or `tryLater`.
 */
export class OcspResponder {
  private signer: OcspSigner | undefined;
  private readonly cache = new Map<string, Cached>();
  /** The cache keys of each serial's answers (at most eight), so a revocation drops them without a walk. */
  private readonly keysOf = new Map<string, Set<string>>();
  private readonly hashes;
  private readonly cacheSize: number;
  private readonly budget: SigningBudget;
  /** Bumped by every invalidation: an answer looked up across one is not cached (it may predate a revocation). */
  private generation = 0;

  constructor(private readonly options: OcspResponderOptions) {
    this.hashes = issuerHashes(options.issuerSubject, options.issuerKeyBits);
    this.cacheSize = options.cacheSize ?? 100_000;
    this.budget = options.budget ?? new SigningBudget(options.signPerClientPerSecond ?? 200);
  }

  /** True when this responder's issuer is the one a CertID names. */
  serves(c: OcspRequest['certs'][number]): boolean {
    const h = this.hashes[c.hash];
    return h.name.equals(c.issuerNameHash) && h.key.equals(c.issuerKeyHash);
  }

  /** Installs a (new) delegated signer; every cached response is dropped, as it names the old one. */
  setSigner(signer: OcspSigner): void {
    this.signer = signer;
    this.generation++;
    this.cache.clear();
    this.keysOf.clear();
  }

  /** Drops cached responses for `serials` (after their revocation), or all of them. */
  invalidate(serials?: readonly string[]): void {
    this.generation++;
    if (!serials) {
      this.keysOf.clear();
      return this.cache.clear();
    }
    // By serial, not by a walk of the whole cache: a revocation costs the same with 10 or 100,000 answers cached.
    for (const serial of serials) {
      for (const key of this.keysOf.get(serial) ?? []) this.cache.delete(key);
      this.keysOf.delete(serial);
    }
  }

  /** The DER response for a DER request from `client` (its address, for the signing budget). */
  respond(der: Buffer, client?: string): Promise<OcspAnswer> {
    return parsedOr(der, (request) => this.answer(request, client));
  }

  /**
   * The issuer's signed word that `serial` is revoked (a nonce-less response, as OCSP clients get it from the
   * cache), or undefined before a signer is installed. The revocation stream carries it with each event, so a
   * subscriber believes the CA, not the connection. Signed from the revocation as recorded, with no database read
   * and no per-client budget: a mass revocation must reach every subscriber at once.
   */
  statementFor(serial: string, revoked: { revokedAt: Date; reason: RevocationReason }): Buffer | undefined {
    const signer = this.signer;
    if (!signer) return undefined;
    const [cert] = parseOcspRequest(createOcspRequest({ issuerSubject: this.options.issuerSubject, issuerKeyBits: this.options.issuerKeyBits, serial: Buffer.from(serial, 'hex') })).certs;
    const key = cert!.cacheKey;
    const now = this.options.clock.now().getTime();
    const hit = this.cache.get(key);
    if (hit && now < hit.refreshAt && hit.revoked) return hit.answer.body;
    const thisUpdate = wholeSeconds(new Date(now));
    const nextUpdate = addSeconds(thisUpdate, this.options.validitySeconds);
    const body = signOcspResponse({ responder: signer, producedAt: thisUpdate, thisUpdate, nextUpdate, answers: [{ certId: cert!.certId, status: { status: 'revoked', ...revoked } }], nonce: undefined });
    this.remember(key, serial, { body, cache: { thisUpdate, nextUpdate, etag: `"${createHash('sha1').update(body).digest('hex')}"` } }, true, now);
    return body;
  }

  private remember(key: string, serial: string, answer: Cached['answer'], revoked: boolean, now: number): void {
    this.cache.delete(key);
    if (this.cache.size >= this.cacheSize) {
      const [oldest, entry] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      const keys = this.keysOf.get(entry.serial);
      keys?.delete(oldest);
      if (keys?.size === 0) this.keysOf.delete(entry.serial);
    }
    this.cache.set(key, { answer, serial, revoked, refreshAt: now + (this.options.validitySeconds * 1000) / 2 });
    const keys = this.keysOf.get(serial);
    if (keys) keys.add(key);
    else this.keysOf.set(serial, new Set([key]));
  }

  /** The response to a parsed request; `unauthorized` unless every CertID names this responder's issuer. */
  async answer(request: OcspRequest, client?: string): Promise<OcspAnswer> {
    if (!request.certs.every((c) => this.serves(c))) return { body: ocspErrorResponse('unauthorized') };
    const signer = this.signer;
    if (!signer) return { body: ocspErrorResponse('tryLater') };
    const now = this.options.clock.now().getTime();
    const single = request.certs.length === 1 ? request.certs[0]! : undefined;
    const key = single?.cacheKey;
    const hit = key === undefined ? undefined : this.cache.get(key);
    const fresh = hit !== undefined && now < hit.refreshAt ? hit : undefined;
    if (fresh && request.nonce === undefined) return fresh.answer;
    if (!this.budget.take(client)) return fresh ? fresh.answer : { body: ocspErrorResponse('tryLater') };
    const generation = this.generation;
    let answers: SingleAnswer[];
    try {
      answers = await Promise.all(request.certs.map(async (c) => ({ certId: c.certId, status: await this.options.source.status(c.serial) })));
    } catch (e) {
      // The database is out of reach: a pre-signed answer serves until its nextUpdate, else tryLater (RFC 6960 §2.3).
      this.options.onSourceError?.(e);
      return hit !== undefined && now < hit.answer.cache.nextUpdate.getTime() ? hit.answer : { body: ocspErrorResponse('tryLater') };
    }
    const thisUpdate = wholeSeconds(new Date(now));
    const nextUpdate = addSeconds(thisUpdate, this.options.validitySeconds);
    const body = signOcspResponse({ responder: signer, producedAt: thisUpdate, thisUpdate, nextUpdate, answers, nonce: request.nonce });
    // Unknown serials are cached nowhere (here or by HTTP caches): the certificate may be issued a moment later
    // and must be answerable at once.
    if (request.nonce !== undefined || answers.some((a) => a.status.status === 'unknown')) return { body };
    const answer = { body, cache: { thisUpdate, nextUpdate, etag: `"${createHash('sha1').update(body).digest('hex')}"` } };
    if (key !== undefined && generation === this.generation) this.remember(key, single!.serial, answer, answers[0]!.status.status === 'revoked', now);
    return answer;
  }
}

/**
 * The responders of every intermediate that still has leaves (the current one and those a rotation retired),
 * each with its own delegated signer: a request goes to the one its CertIDs name, and they share one signing
 * budget per client.
 */
export class OcspResponders {
  private responders: readonly OcspResponder[] = [];

  /** Replaces the set (after a rotation). */
  set(responders: readonly OcspResponder[]): void {
    this.responders = responders;
  }

  respond(der: Buffer, client?: string): Promise<OcspAnswer> {
    return parsedOr(der, async (request) => {
      const first = request.certs[0];
      const responder = first === undefined ? undefined : this.responders.find((r) => r.serves(first));
      return responder ? responder.answer(request, client) : { body: ocspErrorResponse('unauthorized') };
    });
  }

  invalidate(serials?: readonly string[]): void {
    for (const r of this.responders) r.invalidate(serials);
  }
}
