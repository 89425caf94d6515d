// Leaf issuance as one ordered pipeline: verify the key → apply policy → build from the profile → sign → lint → persist.

import { wholeSeconds, type Clock } from '../crypto/clock.js';
import { readPublicKeyInfo, type PublicKeyInfo } from '../crypto/keys.js';
import { randomSerial, serialToHex } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import { signCertificate } from '../pki/certificate.js';
import { verifyCsr } from '../pki/csr.js';
import { lintLeaf, type LeafExpectations } from '../pki/lint.js';
import type { LeafProfile } from '../pki/profile.js';
import type { Issuer } from './issuer.js';
import { applyLeafPolicy, type AcceptedLeaf, type LeafPolicy, type LeafRequest } from './policy.js';
import type { CertificateRecord, CertificateStore, SpentToken } from './ports.js';

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
  readonly der: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spiffeId: string | null;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** What the pipeline runs on. */
export interface IssuanceContext {
  readonly issuer: Issuer;
  readonly profile: LeafProfile;
  readonly policy: LeafPolicy;
  readonly store: CertificateStore;
  readonly clock: Clock;
  readonly lint: LeafExpectations;
}

/** Stage 1: the subject's public key, from a CSR whose signature verifies or from a trusted SPKI. */
export function subjectPublicKey(key: SubjectKey): PublicKeyInfo {
  return 'csr' in key ? verifyCsr(key.csr).publicKey : readPublicKeyInfo(key.spki);
}

/** Stages 3-5: build from the profile, sign, and lint what was signed. */
export function signLeaf(ctx: IssuanceContext, accepted: AcceptedLeaf, serial: Buffer): Buffer {
  const der = signCertificate(ctx.profile.template(accepted.subject, serial, accepted.notBefore, accepted.notAfter), ctx.issuer.signer);
  lintLeaf(der, ctx.lint);
  return der;
}

/** Stage 6: persist with its audit row; a serial collision (never expected at 126 bits) mints a new one. */
function persist(ctx: IssuanceContext, accepted: AcceptedLeaf, caller: Caller, action: string, spendToken: SpentToken | undefined): CertificateRecord {
  const s = accepted.subject;
  for (let attempt = 0; attempt < 3; attempt++) {
    const serial = randomSerial();
    const der = signLeaf(ctx, accepted, serial);
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
    };
    const audit = {
      at: ctx.clock.now(),
      actor: caller.actor,
      action,
      target: record.serial,
      outcome: 'ok' as const,
      detail: { commonName: s.commonName, spiffeId: record.spiffeId, dnsNames: record.dnsNames, ipAddresses: record.ipAddresses, notAfter: record.notAfter.toISOString() },
    };
    const outcome = ctx.store.recordIssued(record, audit, spendToken);
    if (outcome === 'recorded') return record;
    if (outcome === 'token-spent') throw new CaError('ERR_TOKEN_REPLAYED', 'auth: this enrollment token was already used');
  }
  throw new CaError('ERR_STORE_BUSY', 'authority: could not allocate a unique serial');
}

/** How an issuance is recorded: its audit action and, for enrollment, the token it spends. */
export interface IssueOptions {
  readonly action?: 'issue' | 'renew';
  readonly spendToken?: SpentToken;
}

/** Runs the whole pipeline and returns the recorded leaf. */
export function issueLeaf(ctx: IssuanceContext, request: IssueRequest, caller: Caller, options: IssueOptions = {}): IssuedLeaf {
  const publicKey = subjectPublicKey(request.key);
  const now = wholeSeconds(ctx.clock.now());
  const accepted = applyLeafPolicy(ctx.policy, request, publicKey, now, ctx.issuer.notAfter);
  const record = persist(ctx, accepted, caller, options.action ?? 'issue', options.spendToken);
  return {
    serial: record.serial,
    der: record.der,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    spiffeId: record.spiffeId,
    dnsNames: record.dnsNames,
    ipAddresses: record.ipAddresses,
  };
}
