// Composition root for a CA directory on disk: config + keys + SQLite store wired into an Authority.

import type { KeyObject } from 'node:crypto';
import { Authority } from '../authority/authority.js';
import { createHierarchy } from '../authority/bootstrap.js';
import type { Caller } from '../authority/issue.js';
import { loadIssuer } from '../authority/issuer.js';
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
import { CA_FILES } from '../store/ca-directory.js';

/** What `ca init` asks for; durations as text, as typed. */
export interface InitOptions {
  readonly dir: string;
  readonly name: string;
  readonly trustDomain: string;
  readonly keyType?: string;
  readonly publicUrl?: string;
  readonly defaultTtl?: string;
  readonly maxTtl?: string;
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
  };
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
  });
  const rootKeyId = keyIdentifier(readCertificate(hierarchy.root.der).spki).toString('hex');
  const root = caRecord(hierarchy.root.der, 'root', rootKeyId, `${config.name} Root CA`);
  const intermediate = caRecord(hierarchy.intermediate.der, 'intermediate', rootKeyId, `${config.name} Intermediate CA`);
  const auditKey = generateKeyPair('ec-p256').privateKey;
  createCaDirectory(
    options.dir,
    {
      config,
      rootDer: hierarchy.root.der,
      intermediateDer: hierarchy.intermediate.der,
      rootKey: hierarchy.root.key,
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
  };
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

  /** The authority, loading (and if needed decrypting) both CA keys the first time. */
  authority(passphrase: string | undefined): Authority {
    if (this.cached) return this.cached;
    const c = this.directory.config;
    const root = loadIssuer(this.directory.rootDer, this.directory.loadKey('root', passphrase), 'root');
    const intermediate = loadIssuer(this.directory.intermediateDer, this.directory.loadKey('intermediate', passphrase), 'intermediate');
    this.cached = new Authority({
      root,
      intermediate,
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

  close(): void {
    this.store.close();
  }
}
