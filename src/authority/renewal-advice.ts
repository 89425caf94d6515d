// Renewal windows: when each leaf should be renewed (RFC 9773 ARI), by default and as an operator's "renew now" rules move it.

import { identitiesOf, identityQuery, parseIdentityFilter } from '../auth/scopes.js';
import { addSeconds, wholeSeconds, type Clock } from '../crypto/clock.js';
import { normalizeSerial } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import type { IdentityPattern } from '../identity/pattern.js';
import { caServiceSpiffeId } from '../identity/reserved.js';
import type { TrustDomain } from '../identity/spiffe.js';
import type { Caller } from './issue.js';
import type { CertificateQuery, CertificateRecord, CertificateStore } from './ports.js';

/** Which leaves a rule covers: one serial, those with an identity a pattern matches, those issued before a time, or all. */
export type AdviceSelector = { kind: 'serial'; serial: string } | { kind: 'identity'; pattern: string } | { kind: 'issued-before'; before: Date } | { kind: 'all' };

/**
 * An operator's "renew now" rule, stored once however many leaves it covers: its selector and the window it sets.
 * It covers only leaves issued before it was made (see {@link adviceApplies}): their renewals are not.
 */
export interface RenewalAdvice {
  /** Grows with each rule: the push stream resumes from one. */
  readonly id: number;
  readonly createdAt: Date;
  readonly actor: string;
  readonly selector: AdviceSelector;
  readonly windowStart: Date;
  readonly windowEnd: Date;
  readonly explanationUrl: string | null;
}

/** When a leaf should be renewed: a client renews at a random moment between `start` and `end`. */
export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
  readonly explanationUrl: string | null;
  /** The rule that set it, or null for the default window. */
  readonly adviceId: number | null;
}

/** Shortest and longest `within` of a rule: a window a client can hit, and never more than a week of "now". */
export const ADVICE_WITHIN_MIN_SECONDS = 1;
export const ADVICE_WITHIN_MAX_SECONDS = 7 * 86400;
/** Default `within`: ten minutes spread a fleet's renewals without leaving the old certificates in use for long. */
export const ADVICE_WITHIN_DEFAULT_SECONDS = 600;
/** Leaves counted at most by {@link adviseRenewal} when it must read them to count (an identity pattern). */
export const ADVICE_MATCHING_CAP = 100_000;
/** How often a client polls renewal-info: a 24th of the lifetime, within these bounds. */
const POLL_MIN_SECONDS = 60;
const POLL_MAX_SECONDS = 6 * 3600;

const lifetimeMs = (r: Pick<CertificateRecord, 'notBefore' | 'notAfter'>): number => r.notAfter.getTime() - r.notBefore.getTime();
const atFraction = (r: Pick<CertificateRecord, 'notBefore' | 'notAfter'>, fraction: number): Date => wholeSeconds(new Date(r.notBefore.getTime() + lifetimeMs(r) * fraction));

/**
 * The window of a leaf no rule covers, over its lifetime from when it was signed. The issue asks for "the last third" of the lifetime; the window is the first
 * half of it, from 2/3 to 5/6: a client that draws the window's end still has a sixth of the lifetime to retry
 * before the certificate expires (the same sixth `meshca/tls` warns at), while renewals still spread over a sixth.
 *
 * @example
 * defaultRenewalWindow({ notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-01-02T00:00:00Z') })
 * // { start: 2026-01-01T16:00:00Z, end: 2026-01-01T20:00:00Z, explanationUrl: null, adviceId: null }
 */
export function defaultRenewalWindow(record: Pick<CertificateRecord, 'notBefore' | 'notAfter'> & { readonly issuedAt?: Date }): RenewalWindow {
  // The lifetime counts from when the CA signed it: notBefore is backdated for clock skew (a minute), which for a
  // certificate of a minute or two would put the window in the past the moment it is issued.
  const from = { notBefore: record.issuedAt !== undefined && record.issuedAt > record.notBefore && record.issuedAt < record.notAfter ? record.issuedAt : record.notBefore, notAfter: record.notAfter };
  return { start: atFraction(from, 2 / 3), end: atFraction(from, 5 / 6), explanationUrl: null, adviceId: null };
}

/**
 * The test of whether `advice` covers a leaf, its pattern parsed once: the selector matches and the leaf was issued
 * no later than the rule was made. A stored pattern this version cannot read covers nothing (rather than fail every
 * renewal-info answer).
 */
function coverage(advice: RenewalAdvice): (record: CertificateRecord) => boolean {
  const issuedByThen = (r: CertificateRecord): boolean => r.kind === 'leaf' && r.issuedAt <= advice.createdAt;
  const s = advice.selector;
  switch (s.kind) {
    case 'all':
      return issuedByThen;
    case 'serial':
      return (r) => issuedByThen(r) && r.serial === s.serial;
    case 'issued-before':
      return (r) => issuedByThen(r) && r.issuedAt < s.before;
    case 'identity': {
      let pattern: IdentityPattern;
      try {
        pattern = parseIdentityFilter(s.pattern);
      } catch {
        return () => false;
      }
      return (r) => issuedByThen(r) && identitiesOf(r).some((i) => pattern.matches(i));
    }
  }
}

/**
 * True when `advice` covers the leaf `record`: the selector matches it and the leaf was issued no later than the rule
 * was made (both whole seconds: a leaf signed in the second the operator acted is covered, at worst renewed once
 * more). A leaf issued after the rule, typically the renewal the rule asked for, is not: it keeps its default window.
 */
export function adviceApplies(advice: RenewalAdvice, record: CertificateRecord): boolean {
  return coverage(advice)(record);
}

/** `window` with its end at most `notAfter` and its start at most its end. */
function clamped(window: RenewalWindow, notAfter: Date): RenewalWindow {
  const end = window.end > notAfter ? notAfter : window.end;
  return { ...window, start: window.start > end ? end : window.start, end };
}

/**
 * The window of `record`: of the default window and those of the rules in `advice` that cover it (each clamped to
 * end by the leaf's notAfter), the one that ends first. Ending first, not starting first: rules start when they are
 * made, so the earliest start is the oldest rule, while what the operator asked last may be the most urgent; and a
 * rule with a long `within` never lets a leaf renew later than its default window would. Ties go to a rule, so its
 * explanation is served.
 */
export function renewalWindowFor(record: CertificateRecord, advice: readonly RenewalAdvice[]): RenewalWindow {
  let best = clamped(defaultRenewalWindow(record), record.notAfter);
  for (const a of advice) {
    if (!adviceApplies(a, record)) continue;
    const w = clamped({ start: a.windowStart, end: a.windowEnd, explanationUrl: a.explanationUrl, adviceId: a.id }, record.notAfter);
    if (w.end < best.end || (w.end.getTime() === best.end.getTime() && (best.adviceId === null || w.start < best.start))) best = w;
  }
  return best;
}

/** Seconds until a client should ask again: a 24th of the lifetime within 1 minute..6 hours, and no later than the window's start while that is ahead. */
export function renewalPollSeconds(record: Pick<CertificateRecord, 'notBefore' | 'notAfter'>, window: RenewalWindow, now: Date): number {
  const poll = Math.min(Math.max(Math.floor(lifetimeMs(record) / 24 / 1000), POLL_MIN_SECONDS), POLL_MAX_SECONDS);
  const untilStart = Math.ceil((window.start.getTime() - now.getTime()) / 1000);
  return untilStart > 0 ? Math.max(1, Math.min(poll, untilStart)) : poll;
}

/** What {@link renewalInfo} and {@link adviseRenewal} read and write. */
export interface AdviceContext {
  readonly store: Pick<CertificateStore, 'findBySerial' | 'count' | 'list' | 'recordRenewalAdvice' | 'activeRenewalAdvice'>;
  readonly clock: Clock;
  readonly trustDomain: TrustDomain;
}

/** ARI's renewal information for a leaf: its window and how long until a client should ask again. */
export async function renewalInfo(ctx: AdviceContext, serialText: string): Promise<{ record: CertificateRecord; window: RenewalWindow; retryAfterSeconds: number }> {
  const serial = normalizeSerial(serialText);
  const record = serial === null ? undefined : await ctx.store.findBySerial(serial);
  if (!record || record.kind !== 'leaf') throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: no leaf certificate with serial ${serial ?? JSON.stringify(serialText.slice(0, 80))} was issued by this CA`);
  // A revoked leaf is due at once (RFC 9773 asks for a window in the past): it cannot be renewed, only replaced.
  // Otherwise, only rules made since the leaf was issued can cover it.
  const window = record.revokedAt !== null ? { start: record.revokedAt, end: record.revokedAt, explanationUrl: null, adviceId: null } : renewalWindowFor(record, await ctx.store.activeRenewalAdvice(record.issuedAt));
  return { record, window, retryAfterSeconds: renewalPollSeconds(record, window, ctx.clock.now()) };
}

function invalid(message: string): CaError {
  return new CaError('ERR_ADVICE_INVALID', `authority: ${message}`);
}

/** A selector as given, checked and made canonical (a serial in lowercase hex, a pattern in its typed form). */
async function canonicalSelector(ctx: AdviceContext, selector: AdviceSelector): Promise<AdviceSelector> {
  switch (selector.kind) {
    case 'all':
      return { kind: 'all' };
    case 'serial': {
      const serial = normalizeSerial(selector.serial);
      const record = serial === null ? undefined : await ctx.store.findBySerial(serial);
      if (!record || record.kind !== 'leaf') throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: no leaf certificate with serial ${serial ?? JSON.stringify(selector.serial.slice(0, 80))} was issued by this CA`);
      return { kind: 'serial', serial: record.serial };
    }
    case 'identity': {
      const pattern = parseIdentityFilter(selector.pattern);
      return { kind: 'identity', pattern: `${pattern.kind}:${pattern.text}` };
    }
    case 'issued-before':
      if (Number.isNaN(selector.before.getTime())) throw invalid('the issued-before time is not a valid date');
      return { kind: 'issued-before', before: wholeSeconds(selector.before) };
  }
}

/**
 * An `issued-before` time as an operator writes it: ISO 8601 with a date, a time and a zone (`2026-06-15T12:00:00Z`,
 * `2026-06-15T14:00+02:00`), never a local time left to the machine's zone.
 */
export function parseIssuedBefore(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i.exec(text);
  // Date would roll 2026-02-30 over to March 2: a day, hour or minute out of range is refused instead.
  const inRange = m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 12 && Number(m[3]) >= 1 && Number(m[3]) <= new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate() && Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6] ?? 0) <= 59;
  const at = inRange ? new Date(text) : new Date(NaN);
  if (Number.isNaN(at.getTime())) throw invalid(`"${text.slice(0, 80)}" is not an ISO 8601 time with a zone (e.g. 2026-06-15T12:00:00Z)`);
  return at;
}

/**
 * Checks an explanation URL and gives it in its normalized form (what clients show operators): an absolute http(s)
 * URL of reasonable length, with no credentials in it and nothing the URL parser would have to clean up (spaces,
 * control or bidirectional-override characters).
 */
function checkExplanationUrl(text: string): string {
  if (text.length > 2048) throw invalid('the explanation URL is longer than 2048 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(text)) throw invalid('the explanation URL holds spaces, control or bidirectional-override characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`the explanation URL ${JSON.stringify(text.slice(0, 80))} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`the explanation URL must be https:// or http:// (got ${url.protocol}//)`);
  if (url.username !== '' || url.password !== '') throw invalid('the explanation URL must not carry a user name or password');
  return url.href;
}

/** How many unexpired, unrevoked leaves (not the CA service's own) `advice` covers now, at most the cap. */
async function countCovered(ctx: AdviceContext, advice: RenewalAdvice): Promise<{ matching: number; capped: boolean }> {
  const now = wholeSeconds(ctx.clock.now());
  const query: CertificateQuery = { kind: 'leaf', status: 'valid', now, excludeSpiffeId: caServiceSpiffeId(ctx.trustDomain) };
  const s = advice.selector;
  if (s.kind === 'serial') {
    const record = await ctx.store.findBySerial(s.serial);
    const covered = record !== undefined && record.revokedAt === null && record.notAfter > now && record.spiffeId !== query.excludeSpiffeId && adviceApplies(advice, record);
    return { matching: covered ? 1 : 0, capped: false };
  }
  if (s.kind === 'all') return { matching: await ctx.store.count(query), capped: false };
  if (s.kind === 'issued-before') return { matching: await ctx.store.count({ ...query, issuedBefore: s.before }), capped: false };
  // A pattern only the pattern decides: read the leaves a page at a time, keeping none.
  const covers = coverage(advice);
  // The database narrows by the pattern's literal text first, as the inventory's identity filter does.
  const narrowed = identityQuery(query, parseIdentityFilter(s.pattern));
  const page = 1000;
  let matching = 0;
  for (let after: CertificateQuery['after']; ; ) {
    const records = await ctx.store.list({ ...narrowed, limit: page, ...(after ? { after } : {}) });
    for (const r of records) if (covers(r) && ++matching >= ADVICE_MATCHING_CAP) return { matching, capped: true };
    const last = records.at(-1);
    if (!last || records.length < page) return { matching, capped: false };
    after = { notAfter: last.notAfter, serial: last.serial };
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The selector as the audit log and the API name it. */
export function selectorJson(s: AdviceSelector): { serial: string } | { identity: string } | { issuedBefore: string } | { all: true } {
  switch (s.kind) {
    case 'serial':
      return { serial: s.serial };
    case 'identity':
      return { identity: s.pattern };
    case 'issued-before':
      return { issuedBefore: s.before.toISOString() };
    case 'all':
      return { all: true };
  }
}

/**
 * Records a "renew now" rule: the leaves `selector` covers (issued until now) should renew within `withinSeconds`
 * from now. Audited as `renew-now` in the transaction that stores it; returns it with how many unexpired, unrevoked
 * leaves it covers now (the CA service's own are not counted: it renews itself), counting at most
 * {@link ADVICE_MATCHING_CAP} for an identity pattern (`matchingCapped`).
 */
export async function adviseRenewal(ctx: AdviceContext, selector: AdviceSelector, withinSeconds: number, caller: Caller, explanationUrl?: string): Promise<{ advice: RenewalAdvice; matching: number; matchingCapped: boolean }> {
  if (!Number.isInteger(withinSeconds) || withinSeconds < ADVICE_WITHIN_MIN_SECONDS || withinSeconds > ADVICE_WITHIN_MAX_SECONDS) {
    throw invalid(`the window must last from ${ADVICE_WITHIN_MIN_SECONDS} second to ${ADVICE_WITHIN_MAX_SECONDS / 86400} days (got ${withinSeconds} s)`);
  }
  const url = explanationUrl === undefined ? null : checkExplanationUrl(explanationUrl);
  const canonical = await canonicalSelector(ctx, selector);
  const createdAt = wholeSeconds(ctx.clock.now());
  const windowEnd = addSeconds(createdAt, withinSeconds);
  const advice = await ctx.store.recordRenewalAdvice(
    { createdAt, actor: caller.actor, selector: canonical, windowStart: createdAt, windowEnd, explanationUrl: url },
    { at: createdAt, actor: caller.actor, action: 'renew-now', target: canonical.kind === 'serial' ? canonical.serial : null, outcome: 'ok', detail: { selector: selectorJson(canonical), windowEnd: windowEnd.toISOString(), ...(url === null ? {} : { explanationUrl: url }) } },
  );
  const { matching, capped } = await countCovered(ctx, advice);
  return { advice, matching, matchingCapped: capped };
}

/** What `renew-now` answers (the API and the local CLI alike): the rule, its window and how many leaves it covers. */
export function adviceJson(outcome: { advice: RenewalAdvice; matching: number; matchingCapped: boolean }): Record<string, unknown> {
  const { advice } = outcome;
  return {
    id: advice.id,
    selector: selectorJson(advice.selector),
    suggestedWindow: { start: advice.windowStart.toISOString(), end: advice.windowEnd.toISOString() },
    ...(advice.explanationUrl === null ? {} : { explanationURL: advice.explanationUrl }),
    matching: outcome.matching,
    ...(outcome.matchingCapped ? { matchingCapped: true } : {}),
  };
}
