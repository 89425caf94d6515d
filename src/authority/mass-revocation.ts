// Revoking a set of leaves at once: a certificate's whole lineage, or every unexpired leaf an identity pattern matches.

import { identitiesOf, identityQuery } from '../auth/scopes.js';
import { CaError } from '../errors.js';
import type { IdentityPattern } from '../identity/pattern.js';
import type { RevocationReason } from '../revocation/reasons.js';
import { findMatching } from './inventory.js';
import type { Caller } from './issue.js';
import type { AuditEvent, CertificateRecord, CertificateStore } from './ports.js';

/** The most certificates one lineage or identity revocation selects: past it, `ERR_REVOCATION_TOO_BROAD`. */
export const MASS_REVOCATION_LIMIT = 100_000;

/** Serials revoked per store transaction: each batch commits whole, and other writers get a turn between batches. */
const BATCH = 2_000;

/** Re-selections after revoking, to catch a renewal or issuance that raced the revocation. */
const PASSES = 3;

/** What a lineage or identity revocation selected, and what became of each certificate. */
export interface MassRevocation {
  readonly dryRun: boolean;
  readonly reason: RevocationReason;
  /** What selected the certificates: a lineage's first serial, or an identity pattern (canonical text). */
  readonly selector: { readonly lineage: string } | { readonly identity: string };
  /** Revoked by this call (with `dryRun`: what would be). */
  readonly revoked: readonly CertificateRecord[];
  /** Selected but revoked before. */
  readonly alreadyRevoked: readonly CertificateRecord[];
  /** Selected but expired (left as they are: an expired certificate is no longer accepted anyway). */
  readonly expired: readonly CertificateRecord[];
  /** The CA service's own TLS leaves (`spiffe://TD/meshca/ca`): never revoked this way. */
  readonly skipped: readonly CertificateRecord[];
  /** With `keyCompromise`: the SPKI hashes now blocked (with `dryRun`: that would be). Empty otherwise. */
  readonly keysBlocked: readonly string[];
}

/** What a mass revocation needs from the authority. */
export interface MassRevocationContext {
  readonly store: CertificateStore;
  readonly now: Date;
  /** The CA service's SPIFFE ID, whose leaves are never selected for revocation. */
  readonly serviceSpiffeId: string;
  readonly limit: number;
}

function tooBroad(what: string, limit: number): CaError {
  return new CaError('ERR_REVOCATION_TOO_BROAD', `authority: ${what} more than ${limit.toLocaleString('en-US')} certificates; nothing was revoked: narrow the pattern (a longer SPIFFE path or DNS suffix) or revoke in parts`, { detail: { limit } });
}

/**
 * The lineage of `starts`: themselves, the leaves they were renewed from (transitively), every leaf renewed from a
 * member (with or without a new key, transitively), and every leaf with the same key as a member, until nothing new
 * is found. Ancestors count: revoking the newest certificate of a workload must not leave the one it renewed (still
 * valid for a while, and renewable) to bring the lineage back. One store lookup per step, and one per ancestor.
 * Without `ancestors` (a keyCompromise widened to what the key authorized), only what descends or shares a key.
 */
export async function lineageClosure(store: Pick<CertificateStore, 'leavesRelatedTo' | 'findBySerial'>, starts: readonly CertificateRecord[], limit: number, what: string, options: { ancestors?: boolean } = {}): Promise<CertificateRecord[]> {
  const ancestry = options.ancestors ?? true;
  const members = new Map(starts.map((r) => [r.serial, r]));
  const keys = new Set(starts.map((r) => r.subjectKeyHash));
  let serials = [...members.keys()];
  let newKeys = [...keys];
  let parents = ancestry ? starts.map((r) => r.renewedFrom) : [];
  while (serials.length > 0 || newKeys.length > 0 || parents.length > 0) {
    const ancestors = (await Promise.all(parents.filter((p): p is string => p !== null && !members.has(p)).map((p) => store.findBySerial(p)))).filter((r): r is CertificateRecord => r !== undefined && r.kind === 'leaf');
    const found = [...ancestors, ...(serials.length > 0 || newKeys.length > 0 ? await store.leavesRelatedTo(serials, newKeys) : [])];
    parents = [];
    serials = [];
    newKeys = [];
    for (const r of found) {
      if (members.has(r.serial)) continue;
      members.set(r.serial, r);
      if (members.size > limit) throw tooBroad(what, limit);
      serials.push(r.serial);
      if (ancestry) parents.push(r.renewedFrom);
      if (!keys.has(r.subjectKeyHash)) {
        keys.add(r.subjectKeyHash);
        newKeys.push(r.subjectKeyHash);
      }
    }
  }
  return [...members.values()].sort(byIssuance);
}

/** The unexpired leaves (revoked or not) with an identity `pattern` matches. */
export async function identityMatches(ctx: MassRevocationContext, pattern: IdentityPattern): Promise<CertificateRecord[]> {
  const matches = (r: CertificateRecord) => r.notAfter > ctx.now && identitiesOf(r).some((i) => pattern.matches(i));
  const found = await findMatching(ctx.store, { ...identityQuery({ kind: 'leaf' as const }, pattern), now: ctx.now }, matches, ctx.limit + 1);
  if (found.length > ctx.limit) throw tooBroad(`the pattern "${pattern.text}" matches`, ctx.limit);
  return found.sort(byIssuance);
}

const byIssuance = (a: CertificateRecord, b: CertificateRecord): number => a.issuedAt.getTime() - b.issuedAt.getTime() || (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0);

/** Sorts `selected` into what a revocation at `now` does to each. */
function classify(selected: readonly CertificateRecord[], ctx: MassRevocationContext) {
  const out = { revoke: [] as CertificateRecord[], alreadyRevoked: [] as CertificateRecord[], expired: [] as CertificateRecord[], skipped: [] as CertificateRecord[] };
  for (const r of selected) {
    if (r.spiffeId === ctx.serviceSpiffeId) out.skipped.push(r);
    else if (r.revokedAt !== null) out.alreadyRevoked.push(r);
    else if (r.notAfter <= ctx.now) out.expired.push(r);
    else out.revoke.push(r);
  }
  return out;
}

/**
 * Revokes what `select` selects (re-selecting after each pass, so a renewal that raced the first pass is caught by
 * the next), in batches of one transaction each, every revoked serial with its own audit row and revocation log
 * row. `keyCompromise` blocks the key of every selected certificate (but the CA service's). With `dryRun`, selects
 * and reports only: nothing is written.
 */
export async function revokeSelection(
  ctx: MassRevocationContext,
  select: () => Promise<CertificateRecord[]>,
  selector: MassRevocation['selector'],
  reason: RevocationReason,
  caller: Caller,
  dryRun: boolean,
): Promise<MassRevocation> {
  const first = classify(await select(), ctx);
  const blockKeys = reason === 'keyCompromise';
  const keysOf = (records: readonly CertificateRecord[]) => [...new Set(records.map((r) => r.subjectKeyHash))];
  if (dryRun) {
    const keysBlocked = blockKeys ? keysOf([...first.revoke, ...first.alreadyRevoked, ...first.expired]) : [];
    return { dryRun, reason, selector, revoked: first.revoke, alreadyRevoked: first.alreadyRevoked, expired: first.expired, skipped: first.skipped, keysBlocked };
  }
  const audit = (serial: string): AuditEvent => ({ at: ctx.now, actor: caller.actor, action: 'revoke', target: serial, outcome: 'ok', detail: { reason, ...selector } });
  const revoked = new Map<string, CertificateRecord>();
  const already = new Map(first.alreadyRevoked.map((r) => [r.serial, r]));
  const keysBlocked = new Set<string>();
  let pass = first;
  for (let n = 0; n < PASSES; n++) {
    const toRevoke = pass.revoke.filter((r) => !revoked.has(r.serial));
    const toBlock = blockKeys ? [...toRevoke, ...pass.alreadyRevoked, ...pass.expired].filter((r) => !keysBlocked.has(r.subjectKeyHash)) : [];
    if (toRevoke.length === 0 && toBlock.length === 0) break;
    const bySerial = new Map(toRevoke.map((r) => [r.serial, r]));
    for (let i = 0; i < Math.max(toRevoke.length, toBlock.length); i += BATCH) {
      const batch = toRevoke.slice(i, i + BATCH).map((r) => r.serial);
      const blockKeysOf = toBlock.slice(i, i + BATCH).map((r) => r.serial);
      const outcome = await ctx.store.recordRevocations(batch, ctx.now, reason, audit, blockKeys ? { blockKeysOf } : {});
      for (const serial of outcome.revoked) revoked.set(serial, { ...bySerial.get(serial)!, revokedAt: ctx.now, reason });
      // Revoked meanwhile by someone else: reported as it is now.
      for (const serial of outcome.alreadyRevoked) already.set(serial, bySerial.get(serial)!);
      for (const hash of outcome.keysBlocked) keysBlocked.add(hash);
    }
    pass = classify(await select(), ctx);
  }
  if (revoked.size === 0) {
    await ctx.store.appendAudit({ at: ctx.now, actor: caller.actor, action: 'revoke', target: 'lineage' in selector ? selector.lineage : null, outcome: 'noop', detail: { reason, ...selector, alreadyRevoked: already.size, expired: first.expired.length } });
  }
  return {
    dryRun,
    reason,
    selector,
    revoked: [...revoked.values()].sort(byIssuance),
    alreadyRevoked: [...already.values()].filter((r) => !revoked.has(r.serial)).sort(byIssuance),
    expired: first.expired,
    skipped: first.skipped,
    keysBlocked: [...keysBlocked],
  };
}

/** A selected certificate as `POST /v1/revocations` and `ca revoke --lineage|--identity --json` show it. */
export interface SelectedCertificate {
  readonly serial: string;
  readonly name: string;
  readonly spiffeId: string | null;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly notAfter: string;
  readonly renewedFrom: string | null;
}

function selectedJson(r: CertificateRecord): SelectedCertificate {
  return { serial: r.serial, name: r.commonName, spiffeId: r.spiffeId, dnsNames: [...r.dnsNames], ipAddresses: [...r.ipAddresses], notAfter: r.notAfter.toISOString(), renewedFrom: r.renewedFrom };
}

/** What a mass revocation answers, the same over the API and from the local CLI. */
export interface MassRevocationJson {
  readonly dryRun: boolean;
  readonly reason: string;
  readonly lineage?: string;
  readonly identity?: string;
  readonly revoked: SelectedCertificate[];
  readonly alreadyRevoked: SelectedCertificate[];
  readonly expired: SelectedCertificate[];
  readonly skipped: SelectedCertificate[];
  readonly keyBlocked: boolean;
  readonly keysBlocked: string[];
}

export function massRevocationJson(r: MassRevocation): MassRevocationJson {
  return {
    dryRun: r.dryRun,
    reason: r.reason,
    ...r.selector,
    revoked: r.revoked.map(selectedJson),
    alreadyRevoked: r.alreadyRevoked.map(selectedJson),
    expired: r.expired.map(selectedJson),
    skipped: r.skipped.map(selectedJson),
    keyBlocked: r.keysBlocked.length > 0,
    keysBlocked: [...r.keysBlocked],
  };
}
