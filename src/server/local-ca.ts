// Composition root for a CA directory on disk: config + keys + SQLite store wired into an Authority.

import type { KeyObject } from 'node:crypto';
import { Authority } from '../authority/authority.js';
import { createHierarchy, createIntermediate } from '../authority/bootstrap.js';
import { signIssuerCrlNow, type SignedCrl } from '../authority/authority.js';
import { wholeSeconds } from '../crypto/clock.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { readCrl } from '../revocation/crl.js';
import type { RootCrl } from '../revocation/crl-publisher.js';
import type { Caller } from '../authority/issue.js';
import { loadIssuer, readCaCertificate, type Issuer } from '../authority/issuer.js';
import type { CertificateKind, CertificateRecord } from '../authority/ports.js';
import { CONFIG_DEFAULTS, CONFIG_VERSION, parseCaName, parsePublicUrl, type CaConfigFile } from '../config/ca-config.js';
import { parseDuration } from '../config/duration.js';
import { systemClock, type Clock } from '../crypto/clock.js';
import { generateKeyPair, keyIdentifier, parseKeyType, subjectKeyHash } from '../crypto/keys.js';
import { auditSealKey } from '../audit/audit-key.js';
import { CaError } from '../errors.js';
import { parseTrustDomain } from '../identity/spiffe.js';
import { readCertificate } from '../pki/certificate.js';
import { publicationUrls } from '../pki/profile.js';
import { CaDirectory, createCaDirectory, assertFreshDirectory } from '../store/ca-directory.js';
import { openSqliteStore, type SqliteCertificateStore } from '../store/sqlite-store.js';
import { join } from 'node:path';
import { CA_FILES, CA_MODES } from '../store/ca-directory.js';

/** What `ca init` asks for; durations as text, as typed. */
export interface InitOptions {
  readonly dir: string;
  readonly name: string;
  readonly trustDomain: string;
  readonly keyType?: string;
  readonly publicUrl?: string;
  readonly defaultTtl?: string;
  readonly maxTtl?: string;
  /** How long intermediates live (text duration; default 365d). */
  readonly intermediateLifetime?: string;
  /** Write the root key here instead of into the CA directory: the root is offline from the start. */
  readonly rootKeyOut?: string;
  readonly passphrase?: string | undefined;
  readonly clock?: Clock;
  readonly caller: Caller;
}

/** What `ca init` made. */
export interface InitResult {
  readonly dir: string;
  readonly rootSerial: string;
  readonly intermediateSerial: string;
  readonly rootNotAfter: Date;
  readonly intermediateNotAfter: Date;
  readonly encryptedKeys: boolean;
  /** Where the root key went: the CA directory, or the file the operator named. */
  readonly rootKey: string;
  readonly rootCrlNextUpdate: Date;
}

function caRecord(der: Buffer, kind: CertificateKind, issuerKeyId: string, commonName: string): CertificateRecord {
  const view = readCertificate(der);
  return {
    serial: view.serial,
    kind,
    issuerKeyId,
    commonName,
    spiffeId: null,
    dnsNames: [],
    ipAddresses: [],
    notBefore: view.notBefore,
    notAfter: view.notAfter,
    der,
    revokedAt: null,
    reason: null,
    subjectKeyHash: subjectKeyHash(view.spki),
    renewedFrom: null,
    issuedAt: view.notBefore,
  };
}

/** Creates a CA directory: validates every option first, then writes everything or nothing. */
export function initLocalCa(options: InitOptions): InitResult {
  const clock = options.clock ?? systemClock;
  const config: CaConfigFile = {
    version: CONFIG_VERSION,
    name: parseCaName(options.name),
    trustDomain: parseTrustDomain(options.trustDomain),
    keyType: parseKeyType(options.keyType ?? CONFIG_DEFAULTS.keyType),
    publicUrl: parsePublicUrl(options.publicUrl ?? CONFIG_DEFAULTS.publicUrl),
    defaultTtl: options.defaultTtl ?? CONFIG_DEFAULTS.defaultTtl,
    maxTtl: options.maxTtl ?? CONFIG_DEFAULTS.maxTtl,
    crlValidity: CONFIG_DEFAULTS.crlValidity,
    crlRetention: CONFIG_DEFAULTS.crlRetention,
    allowWildcards: false,
    encryptedKeys: options.passphrase !== undefined,
    ...(options.intermediateLifetime === undefined ? {} : { intermediateLifetime: options.intermediateLifetime }),
  };
  const intermediateLifetimeSeconds = parseDuration(config.intermediateLifetime ?? CONFIG_DEFAULTS.intermediateLifetime);
  if (intermediateLifetimeSeconds < parseDuration(config.maxTtl)) {
    throw new CaError('ERR_CONFIG_INVALID', `config: the intermediate lifetime ${config.intermediateLifetime} is shorter than the max TTL ${config.maxTtl}`);
  }
  if (parseDuration(config.defaultTtl) > parseDuration(config.maxTtl)) {
    throw new CaError('ERR_CONFIG_INVALID', `config: default TTL ${config.defaultTtl} is longer than the max TTL ${config.maxTtl}`);
  }
  if (options.passphrase !== undefined && options.passphrase.length < 8) {
    throw new CaError('ERR_CONFIG_INVALID', 'config: the CA passphrase must be at least 8 characters');
  }
  assertFreshDirectory(options.dir);
  const hierarchy = createHierarchy({
    name: config.name,
    trustDomain: parseTrustDomain(config.trustDomain),
    keyType: config.keyType,
    urls: publicationUrls(config.publicUrl),
    now: clock.now(),
    intermediateLifetimeSeconds,
  });
  const rootKeyId = keyIdentifier(readCertificate(hierarchy.root.der).spki).toString('hex');
  const root = caRecord(hierarchy.root.der, 'root', rootKeyId, `${config.name} Root CA`);
  const intermediate = caRecord(hierarchy.intermediate.der, 'intermediate', rootKeyId, `${config.name} Intermediate CA`);
  const auditKey = generateKeyPair('ec-p256').privateKey;
  let rootCrlNextUpdate = new Date(0);
  createCaDirectory(
    options.dir,
    {
      config,
      rootDer: hierarchy.root.der,
      intermediateDer: hierarchy.intermediate.der,
      rootKey: hierarchy.root.key,
      rootKeyOut: options.rootKeyOut,
      intermediateKey: hierarchy.intermediate.key,
      tokenKey: generateKeyPair('ec-p256').privateKey,
      auditKey,
      passphrase: options.passphrase,
    },
    (tmp) => {
      const store = openSqliteStore(join(tmp, CA_FILES.database), { create: true, sealKey: auditSealKey(auditKey), auditKeyFresh: true });
      try {
        const at = clock.now();
        const detail = { name: config.name, trustDomain: config.trustDomain, keyType: config.keyType };
        store.recordIssued(root, { at, actor: options.caller.actor, action: 'init-root', target: root.serial, outcome: 'ok', detail });
        store.recordIssued(intermediate, { at, actor: options.caller.actor, action: 'init-intermediate', target: intermediate.serial, outcome: 'ok', detail });
        const crl = signRootCrl(store, loadIssuer(hierarchy.root.der, hierarchy.root.key, 'root'), at, CONFIG_DEFAULTS.rootCrlValidity, config.crlRetention);
        writeFileAtomic(join(tmp, CA_FILES.rootCrl), crl.der, CA_MODES.file);
        rootCrlNextUpdate = crl.nextUpdate;
      } finally {
        store.close();
      }
    },
  );
  return {
    dir: options.dir,
    rootSerial: root.serial,
    intermediateSerial: intermediate.serial,
    rootNotAfter: root.notAfter,
    intermediateNotAfter: intermediate.notAfter,
    encryptedKeys: config.encryptedKeys,
    rootKey: options.rootKeyOut ?? join(options.dir, CA_FILES.rootKey),
    rootCrlNextUpdate,
  };
}

/** Signs the root's CRL (the root key in hand) and audits it; `validity` and `retention` as config text. */
function signRootCrl(store: SqliteCertificateStore, root: Issuer, at: Date, validity: string, retention: string): SignedCrl {
  const crl = signIssuerCrlNow({ store, issuer: root, level: 'root', now: at, validitySeconds: parseDuration(validity), retentionSeconds: parseDuration(retention) });
  store.appendAudit({ at, actor: 'system:root', action: 'root-crl', target: root.keyIdHex, outcome: 'ok', detail: { number: crl.number.toString(), nextUpdate: crl.nextUpdate.toISOString(), entries: crl.entries } });
  return crl;
}

/** What a rotation made. */
export interface RotationResult {
  readonly previous: { serial: string; notAfter: Date };
  readonly current: { serial: string; notBefore: Date; notAfter: Date };
  /** When the new intermediate starts signing leaves: after it has been published for the rotation lead. */
  readonly signsFrom: Date;
  readonly rootCrlNextUpdate: Date;
}

/** An opened CA directory. Private keys are only read when {@link LocalCa.authority} is first called. */
export class LocalCa {
  private cached: Authority | undefined;

  private constructor(
    readonly directory: CaDirectory,
    readonly store: SqliteCertificateStore,
    /** Seals every audit row (through the store) and signs the chain heads `ca serve` publishes. */
    readonly auditKey: KeyObject,
    private readonly clock: Clock,
  ) {}

  /** Opens the directory and its database (no CA keys yet; the audit key, which seals every audit row, now). */
  static open(dir: string, options: { clock?: Clock } = {}): LocalCa {
    const directory = CaDirectory.open(dir);
    const audit = directory.auditKey();
    const store = openSqliteStore(directory.databasePath, { sealKey: auditSealKey(audit.key), auditKeyFresh: audit.fresh });
    return new LocalCa(directory, store, audit.key, options.clock ?? systemClock);
  }

  /**
   * The authority, loading (and if needed decrypting) the intermediate keys the first time: the current one and
   * the retired ones that still have unexpired leaves. The root key is never loaded here.
   */
  authority(passphrase: string | undefined): Authority {
    if (this.cached) return this.cached;
    const c = this.directory.config;
    const { active, retired } = this.intermediates(passphrase);
    this.cached = new Authority({
      root: readCaCertificate(this.directory.rootDer),
      intermediate: active,
      retired,
      policy: {
        trustDomain: c.trustDomain,
        defaultTtlSeconds: c.defaultTtlSeconds,
        maxTtlSeconds: c.maxTtlSeconds,
        allowWildcards: c.allowWildcards,
        backdateSeconds: 60,
      },
      urls: publicationUrls(c.publicUrl),
      store: this.store,
      clock: this.clock,
      crlValiditySeconds: c.crlValiditySeconds,
      crlRetentionSeconds: c.crlRetentionSeconds,
      renewalGraceSeconds: c.renewalGraceSeconds,
    });
    return this.cached;
  }

  /**
   * The intermediates on disk now, the one that signs first. The newest (intermediate.pem) signs once it has been
   * published for `rotationLead`; until then the one it replaces goes on signing, so every relying party has the
   * new one's CRL before it meets a leaf of it. Retired intermediates whose last leaf has expired are deleted:
   * their keys would sign nothing. `signsFrom` is when the newest starts signing.
   */
  intermediates(passphrase: string | undefined): { active: Issuer; retired: Issuer[]; signsFrom: Date } {
    const now = this.clock.now();
    const newest = loadIssuer(this.directory.currentIntermediateDer(), this.directory.loadKey('intermediate', passphrase), 'intermediate');
    const retired: Issuer[] = [];
    for (const r of this.directory.retiredIntermediates()) {
      if (r.serial === newest.certificate.serial) continue;
      const view = readCertificate(r.der);
      const last = this.store.lastLeafExpiry(keyIdentifier(view.spki).toString('hex'));
      const replacedAt = newest.certificate.notBefore.getTime() + this.directory.config.rotationLeadSeconds * 1000;
      // Kept while it has unexpired leaves, and while it still signs (within the lead of its successor).
      if ((last === undefined || last <= now) && replacedAt <= now.getTime()) {
        this.directory.dropRetired(r.serial);
        this.store.appendAudit({ at: now, actor: 'system:rotate', action: 'drop-intermediate', target: r.serial, outcome: 'ok', detail: { lastLeafExpiry: last?.toISOString() ?? null } });
        continue;
      }
      retired.push(loadIssuer(r.der, this.directory.loadRetiredKey(r.serial, passphrase), `retired intermediate ${r.serial}`));
    }
    // The signer is the newest intermediate published for at least the lead (so relying parties have its CRL),
    // or, when none is (a CA younger than the lead), the oldest: two rotations inside one lead leave the one that
    // was signing before both in charge until the newest's lead ends.
    const lead = this.directory.config.rotationLeadSeconds * 1000;
    const all = [newest, ...retired].filter((i) => i.notAfter > now).sort((a, b) => b.certificate.notBefore.getTime() - a.certificate.notBefore.getTime());
    const signsFrom = new Date(newest.certificate.notBefore.getTime() + lead);
    const active = all.find((i) => i.certificate.notBefore.getTime() + lead <= now.getTime()) ?? all.at(-1) ?? newest;
    return { active, retired: [newest, ...retired].filter((i) => i !== active).sort((a, b) => b.certificate.notBefore.getTime() - a.certificate.notBefore.getTime()), signsFrom };
  }

  /** The root's CRL as published, from root.crl; a directory made before it was kept gets one now (root key at hand). */
  rootCrl(passphrase: string | undefined): RootCrl | undefined {
    const der = this.directory.rootCrl();
    if (der) {
      const view = readCrl(der);
      return { der, issuerKeyIdHex: readCaCertificate(this.directory.rootDer).keyIdHex, number: view.number ?? 0n, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate ?? view.thisUpdate };
    }
    if (!this.directory.hasRootKey) return undefined;
    return this.resignRootCrl(passphrase);
  }

  /** Re-signs the root's CRL with the root key (from `rootKeyFile`, or private/ when it is there) and writes root.crl. */
  resignRootCrl(passphrase: string | undefined, rootKeyFile?: string): SignedCrl {
    const root = loadIssuer(this.directory.rootDer, this.directory.loadRootKey(passphrase, rootKeyFile), 'root');
    const c = this.directory.config;
    const crl = signRootCrl(this.store, root, wholeSeconds(this.clock.now()), `${c.rootCrlValiditySeconds}s`, `${c.crlRetentionSeconds}s`);
    this.directory.writeRootCrl(crl.der);
    return crl;
  }

  /**
   * Makes a new intermediate with the root key (from `rootKeyFile`, or private/): from then on new leaves come from
   * it, while the old one stays (in intermediates/) to sign its CRL and OCSP answers until its last leaf expires.
   * Records it, re-signs the root's CRL, and writes the new certificate last, which is what running services watch.
   */
  rotateIntermediate(passphrase: string | undefined, rootKeyFile?: string, caller: Caller = { actor: 'system:rotate' }): RotationResult {
    const c = this.directory.config;
    if (c.encryptedKeys && passphrase === undefined) throw new CaError('ERR_PASSPHRASE_REQUIRED', 'store: the CA keys are encrypted: set CA_PASSPHRASE or pass --passphrase-file');
    const rootKey = this.directory.loadRootKey(passphrase, rootKeyFile);
    const root = loadIssuer(this.directory.rootDer, rootKey, 'root');
    const previous = readCertificate(this.directory.currentIntermediateDer());
    // The old key must open with this passphrase, or the retired copy would be unreadable later.
    this.directory.loadKey('intermediate', passphrase);
    // notBefore strictly after every intermediate's: which one signs is decided by their order (see intermediates()),
    // and two rotations within one second would otherwise tie.
    const latest = Math.max(previous.notBefore.getTime(), ...this.directory.retiredIntermediates().map((r) => readCertificate(r.der).notBefore.getTime()));
    const now = wholeSeconds(this.clock.now());
    const notBefore = now.getTime() > latest ? now : new Date(latest + 1000);
    if (root.notAfter.getTime() - notBefore.getTime() < c.maxTtlSeconds * 1000) {
      throw new CaError('ERR_ROTATION_FAILED', `authority: the root expires at ${root.notAfter.toISOString()}, too soon for a new intermediate; make a new root`);
    }
    const made = createIntermediate({ name: c.name, trustDomain: c.trustDomain, keyType: c.keyType, urls: publicationUrls(c.publicUrl), now: notBefore, root, lifetimeSeconds: c.intermediateLifetimeSeconds });
    const record = caRecord(made.der, 'intermediate', root.keyIdHex, `${c.name} Intermediate CA`);
    this.store.recordIssued(record, { at: now, actor: caller.actor, action: 'rotate-intermediate', target: record.serial, outcome: 'ok', detail: { previous: previous.serial, notAfter: record.notAfter.toISOString() } });
    const crl = signRootCrl(this.store, root, now, `${c.rootCrlValiditySeconds}s`, `${c.crlRetentionSeconds}s`);
    this.directory.writeRootCrl(crl.der);
    this.directory.rotateIntermediate(previous.serial, made.der, made.key, c.encryptedKeys ? passphrase : undefined);
    const signsFrom = new Date(record.notBefore.getTime() + c.rotationLeadSeconds * 1000);
    return { previous: { serial: previous.serial, notAfter: previous.notAfter }, current: { serial: record.serial, notBefore: record.notBefore, notAfter: record.notAfter }, signsFrom, rootCrlNextUpdate: crl.nextUpdate };
  }

  close(): void {
    this.store.close();
  }
}
