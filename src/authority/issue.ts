// Leaf issuance as one ordered pipeline: verify the key → apply policy → build from the profile → sign → lint → persist.

import { wholeSeconds, type Clock } from '../crypto/clock.js';
import { readPublicKeyInfo, subjectKeyHash, type PublicKeyInfo } from '../crypto/keys.js';
import { randomSerial, serialToHex } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import { signCertificate } from '../pki/certificate.js';
import { verifyCsr } from '../pki/csr.js';
import { checkSubjectKey } from '../pki/key-policy.js';
import { lintLeaf, type LeafExpectations } from '../pki/lint.js';
import { LeafProfile, type PublicationUrls } from '../pki/profile.js';
import type { Issuer } from './issuer.js';
import { applyLeafPolicy, type AcceptedLeaf, type LeafPolicy, type LeafRequest } from './policy.js';
import type { GroupCommit } from './group-commit.js';
import type { CertificateRecord, CertificateStore, IssuedEntry, IssuedOutcome, SpentToken } from './ports.js';

/** Who is asking, as the audit log will name them (`local:alice`, `apikey:deploy-bot`, `token:<jti>`). */
export interface Caller {
  readonly actor: string;
}

/** The key a leaf is for: a PKCS#10 request (proof of possession) or a public key the CA's own tooling made. */
export type SubjectKey = { readonly csr: Buffer } | { readonly spki: Buffer };

/** A request for a leaf. */
export interface IssueRequest extends LeafRequest {
  readonly key: SubjectKey;
}

/** A signed, recorded leaf. */
export interface IssuedLeaf {
  readonly serial: string;
  /** Hex key id of the intermediate that signed it (which chain goes beside it). */
  readonly issuerKeyId: string;
  readonly der: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spiffeId: string | null;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** What stages 1-5 run on (everything but the store), in the main thread or a signing worker. */
export interface SigningContext {
  readonly issuer: Issuer;
  readonly profile: LeafProfile;
  readonly policy: LeafPolicy;
  readonly clock: Clock;
  readonly lint: LeafExpectations;
}

/** What the whole pipeline runs on. */
export interface IssuanceContext extends SigningContext {
  readonly store: CertificateStore;
}

/** The signing context for leaves of `issuer` under `policy`, published at `urls`. */
export function signingContext(issuer: Issuer, policy: LeafPolicy, urls: PublicationUrls, clock: Clock): SigningContext {
  return {
    issuer,
    profile: new LeafProfile(issuer, urls),
    policy,
    clock,
    lint: { issuer: issuer.subject, issuerKeyId: issuer.keyId, issuerNotAfter: issuer.notAfter, trustDomain: policy.trustDomain, allowWildcards: policy.allowWildcards },
  };
}

/** Stage 1: the subject's public key, from a CSR whose signature verifies or from an SPKI, refused when weak. */
export function subjectPublicKey(key: SubjectKey): PublicKeyInfo {
  if ('csr' in key) return verifyCsr(key.csr).publicKey;
  const info = readPublicKeyInfo(key.spki);
  checkSubjectKey(info);
  return info;
}

/** Stages 3-5: build from the profile, sign, and lint what was signed. */
export function signLeaf(ctx: SigningContext, accepted: AcceptedLeaf, serial: Buffer): Buffer {
  const der = signCertificate(ctx.profile.template(accepted.subject, serial, accepted.notBefore, accepted.notAfter), ctx.issuer.signer);
  lintLeaf(der, ctx.lint);
  return der;
}

/** Stage 6's input: the signed leaf under a fresh serial, with its audit row, the token it spends and its lineage. */
function signedEntry(ctx: SigningContext, accepted: AcceptedLeaf, caller: Caller, options: IssueOptions): IssuedEntry {
  const s = accepted.subject;
  const serial = randomSerial();
  const der = signLeaf(ctx, accepted, serial);
  const renewedFrom = options.renewal?.predecessor ?? null;
  const record: CertificateRecord = {
    serial: serialToHex(serial),
    kind: 'leaf',
    issuerKeyId: ctx.issuer.keyIdHex,
    commonName: s.commonName,
    spiffeId: s.spiffeId?.uri ?? null,
    dnsNames: s.dnsNames,
    ipAddresses: s.ipAddresses.map((ip) => ip.text),
    notBefore: accepted.notBefore,
    notAfter: accepted.notAfter,
    der,
    revokedAt: null,
    reason: null,
    subjectKeyHash: subjectKeyHash(s.publicKey.spki),
    renewedFrom,
    issuedAt: accepted.issuedAt,
    requestedBy: caller.actor,
  };
  const audit = {
    at: ctx.clock.now(),
    actor: caller.actor,
    action: options.action ?? 'issue',
    target: record.serial,
    outcome: 'ok' as const,
    detail: {
      commonName: s.commonName,
      spiffeId: record.spiffeId,
      dnsNames: record.dnsNames,
      ipAddresses: record.ipAddresses,
      notAfter: record.notAfter.toISOString(),
      ...(renewedFrom === null ? {} : { renewedFrom }),
    },
  };
  return { record, audit, spendToken: options.spendToken, renewalGraceSeconds: options.renewal?.graceSeconds };
}

/** Serial collisions (never expected at 126 bits) get a new serial this many times. */
const SERIAL_ATTEMPTS = 3;

/** The record when it was stored; otherwise throws why it was refused, or returns null to retry with a new serial. */
function settled(entry: IssuedEntry, outcome: IssuedOutcome): CertificateRecord | null {
  if (typeof outcome === 'object') return outcome.replayed;
  switch (outcome) {
    case 'recorded':
      return entry.record;
    case 'token-spent':
      throw new CaError('ERR_TOKEN_REPLAYED', 'auth: this enrollment token was already used');
    case 'key-blocked':
      throw keyBlocked();
    case 'renewal-forked':
      throw renewalForked(entry.record.renewedFrom!, { predecessor: entry.record.renewedFrom!, lineage: 'fork' });
    case 'serial-taken':
      return null;
  }
}

/** The refusal of a key a keyCompromise revocation blocked. */
export function keyBlocked(): CaError {
  return new CaError('ERR_KEY_BLOCKED', 'authority: this public key was reported compromised (keyCompromise) and is blocked; generate a new key');
}

/** The refusal of a second renewal of one certificate after the grace: it would fork the lineage. */
export function renewalForked(serial: string, detail: Record<string, unknown>, already?: string): CaError {
  return new CaError('ERR_RENEWAL_FORKED', `authority: certificate ${serial} was already renewed${already ? ` (${already})` : ''}; renewing it again would fork its lineage, so it is refused (renew the newest certificate instead)`, { detail });
}

const serialExhausted = (): CaError => new CaError('ERR_STORE_BUSY', 'authority: could not allocate a unique serial');

/** Stage 6: persist with its audit row, committing now. */
async function persist(ctx: IssuanceContext, accepted: AcceptedLeaf, caller: Caller, options: IssueOptions): Promise<CertificateRecord> {
  for (let attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
    const entry = signedEntry(ctx, accepted, caller, options);
    const record = settled(entry, await ctx.store.recordIssued(entry.record, entry.audit, entry.spendToken));
    if (record) return record;
  }
  throw serialExhausted();
}

/** Stages 1-5 in one call: the signed leaf for `request` under a fresh serial, ready to record. */
export function signedIssuance(ctx: SigningContext, request: IssueRequest, caller: Caller, options: IssueOptions = {}): IssuedEntry {
  return signedEntry(ctx, accept(ctx, request, options), caller, options);
}

/** Runs stages 1-5 somewhere (here, or on a signing worker) and returns the signed entry. */
export type SignIssuance = (request: IssueRequest, caller: Caller, options: IssueOptions) => Promise<IssuedEntry>;

/** How an issuance is recorded: its audit action, for enrollment the token it spends, for renewal its predecessor. */
export interface IssueOptions {
  readonly action?: 'issue' | 'renew';
  readonly spendToken?: SpentToken;
  readonly renewal?: { readonly predecessor: string; readonly graceSeconds: number };
  /** Only the CA service's own certificate may carry a reserved identity; nothing a caller sends sets this. */
  readonly reservedIdentity?: boolean;
}

/** Stages 1-2: the verified subject key and what policy accepts for it. */
function accept(ctx: SigningContext, request: IssueRequest, options: IssueOptions): AcceptedLeaf {
  const publicKey = subjectPublicKey(request.key);
  return applyLeafPolicy(ctx.policy, request, publicKey, wholeSeconds(ctx.clock.now()), ctx.issuer.notAfter, { allowReserved: options.reservedIdentity === true });
}

/** The issued-leaf view of a stored record. */
export function issued(record: CertificateRecord): IssuedLeaf {
  return {
    serial: record.serial,
    issuerKeyId: record.issuerKeyId,
    der: record.der,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    spiffeId: record.spiffeId,
    dnsNames: record.dnsNames,
    ipAddresses: record.ipAddresses,
  };
}

/** Runs the whole pipeline and returns the recorded leaf. */
export async function issueLeaf(ctx: IssuanceContext, request: IssueRequest, caller: Caller, options: IssueOptions = {}): Promise<IssuedLeaf> {
  return issued(await persist(ctx, accept(ctx, request, options), caller, options));
}

/**
 * Runs the whole pipeline with stages 1-5 done by `sign` and stage 6 through `commit`; resolves once the leaf
 * is durably recorded. A serial collision signs afresh.
 */
export async function issueLeafGrouped(sign: SignIssuance, commit: GroupCommit, request: IssueRequest, caller: Caller, options: IssueOptions = {}): Promise<IssuedLeaf> {
  for (let attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
    const entry = await sign(request, caller, options);
    const record = settled(entry, await commit.record(entry));
    if (record) return issued(record);
  }
  throw serialExhausted();
}
