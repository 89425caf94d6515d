// The certificate authority core: issues, revokes, lists and publishes, knowing nothing of HTTP, the CLI or SQLite.

import { addSeconds, wholeSeconds, type Clock } from '../crypto/clock.js';
import { normalizeSerial } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import type { TrustDomain } from '../identity/spiffe.js';
import { randomSerial, serialToHex } from '../crypto/serial.js';
import { readCertificate, signCertificate } from '../pki/certificate.js';
import { ocspSignerTemplate, type PublicationUrls } from '../pki/profile.js';
import { caServiceSpiffeId } from '../identity/reserved.js';
import { formatDuration } from '../config/duration.js';
import { revokedEntries, signCrl } from '../revocation/crl.js';
import type { RevocationReason } from '../revocation/reasons.js';
import { GroupCommit } from './group-commit.js';
import { findMatching, findMatchingPage } from './inventory.js';
import { identityMatches, lineageClosure, MASS_REVOCATION_LIMIT, revokeSelection, type MassRevocation, type MassRevocationContext } from './mass-revocation.js';
import { parseIdentityFilter } from '../auth/scopes.js';
import { SigningPool } from './signing-pool.js';
import { issued, issueLeaf, issueLeafGrouped, keyBlocked, renewalForked, signedIssuance, signingContext, type Caller, type SignIssuance, type IssuanceContext, type IssueOptions, type IssueRequest, type IssuedLeaf, type SubjectKey } from './issue.js';
import type { CaCertificate, Issuer } from './issuer.js';
import type { LeafPolicy } from './policy.js';
import type { CertificateQuery, CertificateRecord, CertificateStore, RevocationOutcome, StoredCrl } from './ports.js';
import { adviseRenewal, renewalInfo, type AdviceSelector, type RenewalAdvice, type RenewalWindow } from './renewal-advice.js';

/** Everything the authority is built from. */
export interface AuthorityOptions {
  /** The root: a trust anchor here, never a signer (its key stays offline; see {@link signIssuerCrl}). */
  readonly root: CaCertificate;
  /** The intermediate that signs new leaves. */
  readonly intermediate: Issuer;
  /** Intermediates replaced by a rotation that still have unexpired leaves: they sign their CRLs and OCSP signers. */
  readonly retired?: readonly Issuer[];
  /**
   * Intermediates published (trust bundle, CRLs) whose key this process does not have: a rotation made on another
   * replica, its key not copied here yet. Their CRLs are the ones other replicas sign and store.
   */
  readonly keyless?: readonly CaCertificate[];
  readonly policy: LeafPolicy;
  readonly urls: PublicationUrls;
  readonly store: CertificateStore;
  readonly clock: Clock;
  /** How long a CRL is valid (nextUpdate - thisUpdate). */
  readonly crlValiditySeconds: number;
  /** How long a revoked certificate stays listed after its notAfter. */
  readonly crlRetentionSeconds: number;
  /** How long after a leaf's first renewal a repeat renewal of it (a retry after a lost response) is accepted. */
  readonly renewalGraceSeconds?: number;
}

/** Default for {@link AuthorityOptions.renewalGraceSeconds}: five minutes. */
export const RENEWAL_GRACE_SECONDS = 300;

/** Which CA level a CRL is for. */
export type CrlLevel = 'root' | 'intermediate';

/** A signed CRL and what it says about itself. */
export interface SignedCrl {
  readonly level: CrlLevel;
  /** Hex key id of the issuer that signed it. */
  readonly issuerKeyIdHex: string;
  readonly der: Buffer;
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** How many entries it lists (null for one signed elsewhere, read back from the store). */
  readonly entries: number | null;
  /** The revocation log's sequence number as far as it lists it. */
  readonly revocationSeq: number;
}

/** A stored CRL as a signed one (its entries were counted by whoever signed it). */
function storedSigned(c: StoredCrl): SignedCrl {
  return { level: c.level, issuerKeyIdHex: c.issuerKeyId, der: c.der, number: c.number, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate, entries: null, revocationSeq: c.revocationSeq };
}

/**
 * The CA. Construct it through the store's composition root (`openCaDirectory`) or directly in tests.
 *
 * @example
 * const leaf = authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', key: { csr } }, { actor: 'local:ops' });
 */
export class Authority {
  private issuance: IssuanceContext;
  private active: Issuer;
  private retiredIssuers: readonly Issuer[];
  private keyless: readonly CaCertificate[];
  private signingWorkers = 0;
  /** Shared transactions for the issuances of a long-running service (`issueGrouped`, `renewGrouped`). */
  readonly groupCommit: GroupCommit;
  private signing: SigningPool | null = null;
  /** Stages 1-5 for grouped issuance: on the signing workers once started, else in this thread. */
  private readonly signGrouped: SignIssuance = (request, caller, options) => {
    if (this.signing) return this.signing.sign(request, caller, options);
    try {
      return Promise.resolve(signedIssuance(this.issuance, request, caller, options));
    } catch (e) {
      return Promise.reject(e);
    }
  };

  constructor(private readonly options: AuthorityOptions) {
    this.groupCommit = new GroupCommit(options.store);
    this.active = options.intermediate;
    this.retiredIssuers = options.retired ?? [];
    this.keyless = options.keyless ?? [];
    this.issuance = { ...signingContext(options.intermediate, options.policy, options.urls, options.clock), store: options.store };
  }

  /**
   * Switches to a new set of intermediates (after a rotation): new leaves come from `active` at once; `retired`
   * keep signing their CRLs and OCSP signers. Signing workers, if any, restart with the new issuer; meanwhile
   * this thread signs, so no request waits on the swap.
   */
  async setIntermediates(active: Issuer, retired: readonly Issuer[], keyless: readonly CaCertificate[] = []): Promise<void> {
    const { policy, urls, clock, store } = this.options;
    this.issuance = { ...signingContext(active, policy, urls, clock), store };
    this.active = active;
    this.retiredIssuers = retired;
    this.keyless = keyless;
    const pool = this.signing;
    if (pool) {
      this.signing = null;
      await pool.close();
      await this.startSigningWorkers(this.signingWorkers);
    }
  }

  /**
   * Moves CSR verification and signing for `issueGrouped`/`renewGrouped` onto `workers` threads. A no-op when the
   * compiled worker is absent (sources run untranspiled); returns how many workers run.
   */
  async startSigningWorkers(workers: number): Promise<number> {
    if (this.signing || workers < 1 || !SigningPool.available()) return this.signing?.size ?? 0;
    this.signingWorkers = workers;
    const { policy, urls, clock } = this.options;
    const issuer = this.active;
    const pool = await SigningPool.start(workers, { issuerDer: issuer.certificate.der, issuerKey: issuer.key, policy, urls }, () => clock.now());
    // A rotation while the pool started: these workers hold the old issuer.
    if (issuer !== this.active) {
      await pool.close();
      return this.startSigningWorkers(workers);
    }
    this.signing = pool;
    return pool.size;
  }

  /** Stops the signing workers (grouped issuance falls back to this thread). */
  async stopSigningWorkers(): Promise<void> {
    const pool = this.signing;
    this.signing = null;
    this.signingWorkers = 0;
    await pool?.close();
  }

  get trustDomain(): TrustDomain {
    return this.options.policy.trustDomain;
  }

  /** The rules leaves are issued under (trust domain, default and maximum TTL, wildcards). */
  get policy(): LeafPolicy {
    return this.options.policy;
  }

  get root(): CaCertificate {
    return this.options.root;
  }

  /** The intermediate that signs new leaves. */
  get intermediate(): Issuer {
    return this.active;
  }

  /** Every intermediate that still answers for leaves: the current one first, then the retired ones. */
  get intermediates(): readonly Issuer[] {
    return [this.active, ...this.retiredIssuers];
  }

  /** A new leaf's chain above it: the current intermediate's PEM. */
  get chainPem(): string {
    return this.active.pem;
  }

  /** The chain above an issued leaf: the PEM of the intermediate that signed it (a rotation may have come between). */
  chainFor(leaf: Pick<IssuedLeaf, 'issuerKeyId'>): string {
    return (this.intermediates.find((i) => i.keyIdHex === leaf.issuerKeyId) ?? this.active).pem;
  }

  /** Every intermediate published: those this process signs with, then those whose key it lacks. */
  get publishedIntermediates(): readonly CaCertificate[] {
    return [...this.intermediates, ...this.keyless];
  }

  /** What relying parties trust: the root, then every intermediate that still has leaves (PEM). */
  get trustBundlePem(): string {
    return [this.options.root, ...this.publishedIntermediates].map((c) => c.pem).join('');
  }

  /** Issues a leaf through the full pipeline; the certificate is recorded and audited before this returns. */
  issue(request: IssueRequest, caller: Caller, options: Pick<IssueOptions, 'spendToken'> = {}): Promise<IssuedLeaf> {
    return issueLeaf(this.issuance, request, caller, options);
  }

  /**
   * The current, unrevoked, unexpired leaf of this CA whose DER is exactly `der`; anything else is refused
   * (`ERR_CERTIFICATE_UNTRUSTED` for a certificate this CA did not issue).
   */
  async currentLeaf(der: Buffer): Promise<CertificateRecord> {
    let serial: string;
    try {
      serial = readCertificate(der).serial;
    } catch {
      throw new CaError('ERR_CERTIFICATE_UNTRUSTED', 'authority: the presented certificate is not readable');
    }
    const record = await this.options.store.findBySerial(serial);
    if (!record || record.kind !== 'leaf' || !record.der.equals(der)) {
      throw new CaError('ERR_CERTIFICATE_UNTRUSTED', 'authority: the presented certificate was not issued by this CA');
    }
    if (record.revokedAt !== null) throw new CaError('ERR_CERTIFICATE_REVOKED', `authority: certificate ${serial} is revoked`);
    if (record.notAfter <= this.options.clock.now()) throw new CaError('ERR_CERTIFICATE_EXPIRED', `authority: certificate ${serial} has expired`);
    return record;
  }

  /**
   * As `issue`, for a service answering many callers at once: issuances that arrive together share one
   * durable transaction. Resolves only after the leaf's row (and audit row, and spent token) has committed.
   */
  issueGrouped(request: IssueRequest, caller: Caller, options: Pick<IssueOptions, 'spendToken'> = {}): Promise<IssuedLeaf> {
    return issueLeafGrouped(this.signGrouped, this.groupCommit, request, caller, options);
  }

  /**
   * Renews the leaf `der` with exactly its identities and its lifetime (capped at the CA's maximum), for the same
   * key or for `newKey` (whose CSR proves possession). The caller must have proved it holds the current key.
   */
  async renew(der: Buffer, newKey: SubjectKey | undefined, caller: Caller): Promise<IssuedLeaf> {
    const renewal = await this.renewalOf(der, newKey, caller);
    return 'replayed' in renewal ? renewal.replayed : issueLeaf(this.issuance, renewal.request, caller, renewal.options);
  }

  /** As `renew`, recorded through group commit like `issueGrouped`. */
  async renewGrouped(der: Buffer, newKey: SubjectKey | undefined, caller: Caller): Promise<IssuedLeaf> {
    const renewal = await this.renewalOf(der, newKey, caller);
    return 'replayed' in renewal ? renewal.replayed : issueLeafGrouped(this.signGrouped, this.groupCommit, renewal.request, caller, renewal.options);
  }

  /**
   * What renewing `der` means: the request for a new leaf with its identities and lifetime (for its own key or
   * `newKey`), or the successor it already has. Refused early when its key is blocked, or when it was already
   * renewed longer ago than the grace (a second successor would fork its lineage: the sign of a stolen key).
   * Within the grace, a same-key repeat (a client that lost the response) gets the same successor again, so no
   * second branch exists; a repeat with a new key supersedes the earlier successor. The store checks the key and
   * the grace again in the transaction that records the leaf.
   */
  private async renewalOf(der: Buffer, newKey: SubjectKey | undefined, caller: Caller): Promise<{ request: IssueRequest; options: IssueOptions } | { replayed: IssuedLeaf }> {
    const current = await this.currentLeaf(der);
    if (newKey === undefined && (await this.options.store.isKeyBlocked(current.subjectKeyHash))) throw keyBlocked();
    const grace = this.options.renewalGraceSeconds ?? RENEWAL_GRACE_SECONDS;
    const renewals = await this.options.store.renewalsOf(current.serial);
    const now = wholeSeconds(this.options.clock.now());
    const first = renewals[0];
    if (first && (now.getTime() - first.issuedAt.getTime()) / 1000 > grace) {
      throw renewalForked(current.serial, { predecessor: current.serial, successor: first.serial, renewedAt: first.issuedAt.toISOString(), lineage: 'fork' }, `as ${first.serial} at ${first.issuedAt.toISOString()}, more than ${formatDuration(grace)} ago`);
    }
    if (newKey === undefined) {
      const successors = await Promise.all(renewals.map((r) => this.options.store.findBySerial(r.serial)));
      const successor = successors.find((r) => r !== undefined && r.revokedAt === null && r.notAfter > now && r.subjectKeyHash === current.subjectKeyHash);
      if (successor) {
        await this.options.store.appendAudit({ at: now, actor: caller.actor, action: 'renew', target: successor.serial, outcome: 'noop', detail: { predecessor: current.serial, replayed: successor.serial } });
        return { replayed: issued(successor) };
      }
    }
    const lifetime = Math.round((current.notAfter.getTime() - current.notBefore.getTime()) / 1000) - this.options.policy.backdateSeconds;
    return {
      request: {
        commonName: current.commonName,
        spiffeId: current.spiffeId ?? undefined,
        dnsNames: current.dnsNames,
        ipAddresses: current.ipAddresses,
        ttlSeconds: Math.min(Math.max(lifetime, 1), this.options.policy.maxTtlSeconds),
        key: newKey ?? { spki: readCertificate(current.der).spki },
      },
      options: { action: 'renew', renewal: { predecessor: current.serial, graceSeconds: grace } },
    };
  }

  /**
   * The CA service's own TLS leaf (`spiffe://TD/meshca/ca`, a reserved identity no request can obtain) for `spki`
   * with these names. Clients refuse to send credentials to a server that does not present it.
   */
  issueCaServiceLeaf(spki: Buffer, names: { dnsNames: readonly string[]; ipAddresses: readonly string[] }, caller: Caller): Promise<IssuedLeaf> {
    return issueLeaf(this.issuance, { commonName: 'meshca CA service', spiffeId: caServiceSpiffeId(this.trustDomain), ...names, key: { spki } }, caller, { reservedIdentity: true });
  }

  /**
   * Issues the delegated OCSP signing certificate for `spki`, valid `lifetimeSeconds` (never past the
   * intermediate). It is audited, not stored as a leaf: it has no identity to list or renew.
   */
  async issueOcspSigner(issuer: Issuer, spki: Buffer, lifetimeSeconds: number, caller: Caller): Promise<{ der: Buffer; serial: string; notBefore: Date; notAfter: Date }> {
    const now = wholeSeconds(this.options.clock.now());
    const notBefore = addSeconds(now, -this.options.policy.backdateSeconds);
    const cap = issuer.notAfter;
    const notAfter = addSeconds(now, lifetimeSeconds) > cap ? cap : addSeconds(now, lifetimeSeconds);
    const serial = randomSerial();
    const der = signCertificate(
      ocspSignerTemplate({ issuer, commonName: `${this.options.policy.trustDomain} OCSP responder`, spki, serial, notBefore, notAfter }),
      issuer.signer,
    );
    const hex = serialToHex(serial);
    await this.options.store.appendAudit({ at: now, actor: caller.actor, action: 'ocsp-signer', target: hex, outcome: 'ok', detail: { notAfter: notAfter.toISOString(), issuer: issuer.keyIdHex } });
    return { der, serial: hex, notBefore, notAfter };
  }

  /** Looks a certificate up by serial in any accepted text form. */
  async find(serial: string): Promise<CertificateRecord | undefined> {
    const canonical = normalizeSerial(serial);
    return canonical === null ? undefined : this.options.store.findBySerial(canonical);
  }

  /** Lists certificates (leaves unless `kind` says otherwise). */
  list(query: Omit<CertificateQuery, 'now'>): Promise<CertificateRecord[]> {
    return this.options.store.list({ kind: 'leaf', ...query, now: wholeSeconds(this.options.clock.now()) });
  }

  /** How many leaves `query` selects. */
  count(query: Omit<CertificateQuery, 'now'>): Promise<number> {
    return this.options.store.count({ kind: 'leaf', ...query, now: wholeSeconds(this.options.clock.now()) });
  }

  /** The CRLs published now: the root's and each published intermediate's, as stored (absent: none yet). */
  async publishedCrls(): Promise<StoredCrl[]> {
    const issuers = [this.options.root, ...this.publishedIntermediates];
    const found = await Promise.all(issuers.map((i) => this.options.store.publishedCrl(i.keyIdHex)));
    return found.filter((c): c is StoredCrl => c !== undefined);
  }

  /** One page of the leaves `query` selects that `matches` accepts, reading at most `maxScan` (see {@link findMatchingPage}). */
  listMatchingPage(query: Omit<CertificateQuery, 'now' | 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number, maxScan: number): Promise<{ records: CertificateRecord[]; resumeAfter: CertificateRecord | undefined }> {
    return findMatchingPage(this.options.store, { kind: 'leaf', ...query, now: wholeSeconds(this.options.clock.now()) }, matches, limit, maxScan);
  }

  /** The leaves `query` selects that `matches` accepts, at most `limit` (see {@link findMatching}). */
  listMatching(query: Omit<CertificateQuery, 'now' | 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number): Promise<CertificateRecord[]> {
    return findMatching(this.options.store, { kind: 'leaf', ...query, now: wholeSeconds(this.options.clock.now()) }, matches, limit);
  }

  /**
   * Revokes a leaf by serial. Revoking twice reports `already-revoked` and changes nothing, except that
   * `keyCompromise` always blocks the key and revokes every other unexpired leaf with it (`alsoRevoked`). CA
   * certificates are refused (retiring the intermediate is a rotation, not a revocation).
   */
  async revoke(serialText: string, reason: RevocationReason, caller: Caller): Promise<Exclude<RevocationOutcome, { result: 'not-found' }>> {
    // keyCompromise is about the key, not one serial: every unexpired leaf with it goes, and the key is blocked.
    const serial = normalizeSerial(serialText);
    if (serial === null) throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: "${serialText}" is not a serial number (hex expected)`);
    const existing = await this.options.store.findBySerial(serial);
    if (existing && existing.kind !== 'leaf') {
      throw new CaError('ERR_REVOKE_CA_CERTIFICATE', `authority: ${serial} is the ${existing.kind} certificate; revoking it would break the CA (rotate it instead)`);
    }
    const now = wholeSeconds(this.options.clock.now());
    const outcome = await this.options.store.recordRevocation(serial, now, reason, { at: now, actor: caller.actor, action: 'revoke', target: serial, outcome: 'ok', detail: { reason } }, { blockKey: reason === 'keyCompromise' });
    if (outcome.result === 'not-found') throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: no certificate with serial ${serial} was issued by this CA`);
    return outcome;
  }

  /**
   * The renewal window of the leaf `serial` (RFC 9773 renewal information) and how many seconds until a client should
   * ask again; `ERR_CERTIFICATE_NOT_FOUND` for a serial that is no leaf of this CA.
   */
  renewalInfo(serial: string): Promise<{ record: CertificateRecord; window: RenewalWindow; retryAfterSeconds: number }> {
    return renewalInfo(this.adviceContext, serial);
  }

  /**
   * "Renew now": the leaves `selector` covers, issued until now, should renew within `withinSeconds` (1 s to 7 days).
   * Stored as one rule and audited (`renew-now`); `matching` is how many unexpired, unrevoked leaves it covers now.
   *
   * @example
   * await authority.adviseRenewal({ kind: 'identity', pattern: 'spiffe:spiffe://acme.internal/ns/prod/**' }, 600, { actor: 'local:ops' });
   */
  adviseRenewal(selector: AdviceSelector, withinSeconds: number, caller: Caller, explanationUrl?: string): Promise<{ advice: RenewalAdvice; matching: number; matchingCapped: boolean }> {
    return adviseRenewal(this.adviceContext, selector, withinSeconds, caller, explanationUrl);
  }

  private get adviceContext() {
    return { store: this.options.store, clock: this.options.clock, trustDomain: this.options.policy.trustDomain };
  }

  /**
   * The CRL to serve for an intermediate: the one any process of this CA published last, when it lists every
   * revocation recorded since and is less than half its validity old (so every replica serves the same CRL, and a
   * burst of replicas signs one, not one each); else a new one, signed here and published for the others. For an
   * intermediate whose key is not here, only a published one, while it is valid. With `fresh`, always a new one.
   */
  async currentCrl(issuer: CaCertificate, options: { fresh?: boolean } = {}): Promise<SignedCrl> {
    const { store, clock } = this.options;
    const now = clock.now();
    const stored = await store.publishedCrl(issuer.keyIdHex);
    const half = stored ? stored.thisUpdate.getTime() + (stored.nextUpdate.getTime() - stored.thisUpdate.getTime()) / 2 : 0;
    if (!options.fresh && stored && now.getTime() < half && (await store.revocationsSince(stored.revocationSeq)).seq === stored.revocationSeq) return storedSigned(stored);
    const signer = this.intermediates.find((i) => i.keyIdHex === issuer.keyIdHex);
    if (!signer) {
      if (stored && now < stored.nextUpdate) return storedSigned(stored);
      throw new CaError('ERR_SIGNER_UNAVAILABLE', `authority: no current CRL of intermediate ${issuer.certificate.serial} is published, and its key is not here to sign one`);
    }
    const signed = await this.signCrl(signer);
    const published = await store.publishCrl({ issuerKeyId: signed.issuerKeyIdHex, level: 'intermediate', number: signed.number, der: signed.der, thisUpdate: signed.thisUpdate, nextUpdate: signed.nextUpdate, revocationSeq: signed.revocationSeq });
    // Another replica's, signed after this one took its number: it lists at least as much.
    return published.number > signed.number ? storedSigned(published) : signed;
  }

  /**
   * Signs a fresh CRL for an intermediate (the current one by default) with the next persisted CRL number. The
   * root's CRL is signed by {@link signIssuerCrl} in the rare ceremonies that have the root key.
   */
  signCrl(issuer: Issuer = this.active): Promise<SignedCrl> {
    const { store, clock, crlValiditySeconds, crlRetentionSeconds } = this.options;
    return signIssuerCrl({ store, issuer, level: 'intermediate', now: clock.now(), validitySeconds: crlValiditySeconds, retentionSeconds: crlRetentionSeconds });
  }

  /** The leaf `serialText` (any accepted text form), refused unless this CA issued it as a leaf. */
  private async leafToRevoke(serialText: string): Promise<CertificateRecord> {
    const serial = normalizeSerial(serialText);
    if (serial === null) throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: "${serialText.slice(0, 80)}" is not a serial number (hex expected)`);
    const record = await this.options.store.findBySerial(serial);
    if (!record) throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `authority: no certificate with serial ${serial} was issued by this CA`);
    if (record.kind !== 'leaf') throw new CaError('ERR_REVOKE_CA_CERTIFICATE', `authority: ${serial} is the ${record.kind} certificate; revoking it would break the CA (rotate it instead)`);
    return record;
  }

  private massContext(limit = MASS_REVOCATION_LIMIT): MassRevocationContext {
    return { store: this.options.store, now: wholeSeconds(this.options.clock.now()), serviceSpiffeId: caServiceSpiffeId(this.trustDomain), limit };
  }

  /**
   * The lineage of the leaf `serialText`: itself, every leaf renewed from a member (with or without a new key,
   * however many renewals down) and every leaf with the same public key as a member, whatever their status, oldest
   * first. More than `limit` (100,000) members is `ERR_REVOCATION_TOO_BROAD`.
   *
   * @example
   * (await authority.lineageOf(first.serial)).map((r) => r.serial) // [first, its renewals, their rekeys, ...]
   */
  async lineageOf(serialText: string, options: { limit?: number } = {}): Promise<CertificateRecord[]> {
    const start = await this.leafToRevoke(serialText);
    return lineageClosure(this.options.store, [start], options.limit ?? MASS_REVOCATION_LIMIT, `the lineage of ${start.serial} holds`);
  }

  /**
   * Revokes the unexpired, unrevoked members of the lineage of `serialText` (see {@link lineageOf}); those already
   * revoked or expired are reported, not touched, and the CA service's own leaves are never revoked this way.
   * `keyCompromise` also blocks every key of the lineage. With `dryRun`, reports what it would do and writes nothing.
   *
   * @example
   * const r = await authority.revokeLineage(first.serial, 'superseded', { actor: 'local:ops' }, { dryRun: true });
   * r.revoked.map((c) => c.serial) // what a real run would revoke
   */
  async revokeLineage(serialText: string, reason: RevocationReason, caller: Caller, options: { dryRun?: boolean; limit?: number } = {}): Promise<MassRevocation> {
    const start = await this.leafToRevoke(serialText);
    const ctx = this.massContext(options.limit);
    const select = () => lineageClosure(ctx.store, [start], ctx.limit, `the lineage of ${start.serial} holds`);
    return revokeSelection(ctx, select, { lineage: start.serial }, reason, caller, options.dryRun ?? false);
  }

  /**
   * Revokes every unexpired, unrevoked leaf with an identity (SPIFFE ID, DNS name or IP address) that `patternText`
   * matches, in the scopes' dialect (`ERR_PATTERN_INVALID` when it is not a pattern); matching nothing is an empty
   * result. The CA service's own leaves are never revoked this way. `keyCompromise` widens the selection to the
   * lineage of every match and blocks their keys, as a single keyCompromise revocation does for its key.
   *
   * @example
   * await authority.revokeIdentity('spiffe:spiffe://acme.internal/ns/dev/**', 'cessationOfOperation', { actor: 'local:ops' });
   */
  async revokeIdentity(patternText: string, reason: RevocationReason, caller: Caller, options: { dryRun?: boolean; limit?: number } = {}): Promise<MassRevocation> {
    const pattern = parseIdentityFilter(patternText);
    const ctx = this.massContext(options.limit);
    const select = async () => {
      const matches = await identityMatches(ctx, pattern);
      return reason === 'keyCompromise' ? lineageClosure(ctx.store, matches, ctx.limit, `the pattern "${pattern.text}" and the lineages of its matches hold`, { ancestors: false }) : matches;
    };
    return revokeSelection(ctx, select, { identity: pattern.text }, reason, caller, options.dryRun ?? false);
  }

  /** The serials renewed from each of `records` (its `renewedTo`), looked up at once for a listing page. */
  renewedTo(records: readonly Pick<CertificateRecord, 'serial'>[]): Promise<Map<string, string[]>> {
    return this.options.store.successorsOf(records.map((r) => r.serial));
  }
}

type CrlParams = { store: Pick<CertificateStore, 'crlSnapshot'>; issuer: Issuer; level: CrlLevel; now: Date; validitySeconds: number; retentionSeconds: number };

/**
 * Signs a CRL for `issuer` with the next CRL number the store hands out. Entries are read in pages and encoded
 * page by page, yielding to the event loop between pages so a large CRL never stalls other requests.
 */
export async function signIssuerCrl(p: CrlParams): Promise<SignedCrl> {
  const thisUpdate = wholeSeconds(p.now);
  const pages: { der: Buffer; count: number }[] = [];
  const { number, revocationSeq } = await p.store.crlSnapshot(p.issuer.keyIdHex, { notAfterSince: addSeconds(thisUpdate, -p.retentionSeconds), numberAtLeast: BigInt(p.now.getTime()) }, async (page) => {
    pages.push({ der: revokedEntries(page), count: page.length });
    await new Promise((resolve) => setImmediate(resolve));
  });
  const nextUpdate = addSeconds(thisUpdate, p.validitySeconds);
  const der = signCrl({ issuer: p.issuer.subject, issuerKeyId: p.issuer.keyId, signer: p.issuer.signer, thisUpdate, nextUpdate, number }, pages.map((x) => x.der));
  return { level: p.level, issuerKeyIdHex: p.issuer.keyIdHex, der, number, thisUpdate, nextUpdate, entries: pages.reduce((n, x) => n + x.count, 0), revocationSeq };
}
