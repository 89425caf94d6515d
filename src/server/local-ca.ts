// Composition root for a CA directory: config and keys from files, everything else from its store, wired into an Authority.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { Authority, signIssuerCrl, type SignedCrl } from '../authority/authority.js';
import { createHierarchy, createIntermediate } from '../authority/bootstrap.js';
import type { RootCrl } from '../revocation/crl-publisher.js';
import type { Caller } from '../authority/issue.js';
import { loadIssuer, readCaCertificate, type CaCertificate, type Issuer } from '../authority/issuer.js';
import type { CertificateKind, CertificateRecord } from '../authority/ports.js';
import { CONFIG_DEFAULTS, CONFIG_VERSION, parseCaName, parseDatabaseUrl, parsePublicUrl, storableDatabaseUrl, type CaConfigFile } from '../config/ca-config.js';
import { parseDuration } from '../config/duration.js';
import { systemClock, wholeSeconds, type Clock } from '../crypto/clock.js';
import { generateKeyPair, keyIdentifier, parseKeyType, spkiOf, subjectKeyHash } from '../crypto/keys.js';
import { auditSealKey } from '../audit/audit-key.js';
import { CaError } from '../errors.js';
import { parseTrustDomain } from '../identity/spiffe.js';
import { readCertificate } from '../pki/certificate.js';
import { publicationUrls } from '../pki/profile.js';
import { readCrl } from '../revocation/crl.js';
import { CaDirectory, createCaDirectory, assertFreshDirectory, relativeName, CA_FILES } from '../store/ca-directory.js';
import type { CaStore } from '../store/ca-store.js';
import { databaseUrlFor, openCaStore } from '../store/open-store.js';
import { FIRST_SEALED_VERSION, sqliteSchemaVersion } from '../store/sqlite-store.js';
import { join } from 'node:path';

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
  /** A PostgreSQL URL: the CA's data goes there (shared by replicas) instead of DIR/ca.db. */
  readonly database?: string;
  readonly passphrase?: string | undefined;
  /** Encrypts the root key instead of `passphrase`: the offline root opens with a passphrase of its own. */
  readonly rootPassphrase?: string | undefined;
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
  /** Where the data lives: DIR/ca.db, or the PostgreSQL URL without its password. */
  readonly database: string;
  /** True when the database URL had a password, which was used but not written into config.json. */
  readonly passwordKeptOut: boolean;
}

/** A stored record of a CA certificate (they have no identities, and were "issued" when they begin). */
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

/** What replicas compare to know they hold the same keys: the SHA-256 of the public key. */
function keyFingerprint(key: KeyObject): string {
  return subjectKeyHash(spkiOf(createPublicKey(key)));
}

/** Fingerprint names in the store, and the file each one checks. */
const FINGERPRINTS = { tokenKey: { name: 'token-key', file: CA_FILES.tokenKey }, auditKey: { name: 'audit-key', file: CA_FILES.auditKey } } as const;

/** Creates a CA directory (and its database): validates every option first, then writes everything or nothing. */
export async function initLocalCa(options: InitOptions): Promise<InitResult> {
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
    // The password, if the URL has one, is used now and kept out of config.json (copied to every replica).
    ...(options.database === undefined ? {} : { database: storableDatabaseUrl(parseDatabaseUrl(options.database)).url }),
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
  if (options.rootPassphrase !== undefined && options.rootPassphrase.length < 8) {
    throw new CaError('ERR_CONFIG_INVALID', 'config: the root key passphrase must be at least 8 characters');
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
  const tokenKey = generateKeyPair('ec-p256').privateKey;
  let rootCrlNextUpdate = new Date(0);
  let database = '';
  await createCaDirectory(
    options.dir,
    {
      config,
      rootDer: hierarchy.root.der,
      intermediateDer: hierarchy.intermediate.der,
      rootKey: hierarchy.root.key,
      rootKeyOut: options.rootKeyOut,
      intermediateKey: hierarchy.intermediate.key,
      tokenKey,
      auditKey,
      passphrase: options.passphrase,
      rootPassphrase: options.rootPassphrase,
    },
    async (tmp) => {
      const store = await openCaStore({ sqlitePath: join(tmp, CA_FILES.database), databaseUrl: options.database, create: true, sealKey: auditSealKey(auditKey), auditKeyFresh: true });
      database = config.database === undefined ? join(options.dir, CA_FILES.database) : store.location;
      try {
        if ((await store.caCertificates()).length > 0 || (await store.auditHead()) !== undefined) {
          throw new CaError('ERR_DATABASE_IN_USE', `store: ${store.location} already holds a CA; give each CA a database of its own (its replicas share it through a copy of the CA directory, not through \`ca init\`)`);
        }
        const at = clock.now();
        const detail = { name: config.name, trustDomain: config.trustDomain, keyType: config.keyType };
        await store.recordIssued(root, { at, actor: options.caller.actor, action: 'init-root', target: root.serial, outcome: 'ok', detail });
        await store.recordIntermediate(intermediate, { at, actor: options.caller.actor, action: 'init-intermediate', target: intermediate.serial, outcome: 'ok', detail }, null);
        await store.recordFingerprint(FINGERPRINTS.tokenKey.name, keyFingerprint(tokenKey));
        await store.recordFingerprint(FINGERPRINTS.auditKey.name, keyFingerprint(auditKey));
        const crl = await signRootCrl(store, loadIssuer(hierarchy.root.der, hierarchy.root.key, 'root'), at, rootCrlValidity(parseDuration(CONFIG_DEFAULTS.rootCrlValidity), intermediateLifetimeSeconds), parseDuration(config.crlRetention));
        rootCrlNextUpdate = crl.nextUpdate;
      } finally {
        await store.close();
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
    database,
    passwordKeptOut: options.database !== undefined && storableDatabaseUrl(options.database).hadPassword,
  };
}

/**
 * How long a root CRL is valid: `rootCrlValidity`, and never less than an intermediate lives, since it is re-signed
 * only at rotations (and by hand): a longer-lived intermediate would outlive the root's CRL and every relying party
 * that checks each level would then refuse every peer.
 */
function rootCrlValidity(configured: number, intermediateLifetime: number): number {
  return Math.max(configured, intermediateLifetime);
}

/** Signs the root's CRL (the root key in hand), stores it, and audits it. */
async function signRootCrl(store: CaStore, root: Issuer, at: Date, validitySeconds: number, retentionSeconds: number): Promise<SignedCrl> {
  const crl = await signIssuerCrl({ store, issuer: root, level: 'root', now: at, validitySeconds, retentionSeconds });
  await store.saveRootCrl(
    { issuerKeyId: root.keyIdHex, level: 'root', number: crl.number, der: crl.der, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revocationSeq: crl.revocationSeq },
    { at, actor: 'system:root', action: 'root-crl', target: root.keyIdHex, outcome: 'ok', detail: { number: crl.number.toString(), nextUpdate: crl.nextUpdate.toISOString(), entries: crl.entries } },
  );
  return crl;
}

/** Where the root key comes from in a ceremony: a file (else private/root.key), and a passphrase of its own, if any. */
export interface RootKeySource {
  readonly keyFile?: string | undefined;
  readonly passphrase?: string | undefined;
}

/** What a rotation made. */
export interface RotationResult {
  readonly previous: { serial: string; notAfter: Date };
  readonly current: { serial: string; notBefore: Date; notAfter: Date };
  /** When the new intermediate starts signing leaves: after it has been published for the rotation lead. */
  readonly signsFrom: Date;
  readonly rootCrlNextUpdate: Date;
  /** Where its key was written: every other replica needs a copy before `signsFrom`. */
  readonly keyFile: string;
}

/** The hierarchy as the store holds it now, paired with the keys of this directory. */
export interface Hierarchy {
  readonly root: CaCertificate;
  /** The intermediate that signs new leaves (undefined when this directory has the key of none). */
  readonly active: Issuer | undefined;
  /** The others that still answer for leaves (and the newest during its lead), newest first. */
  readonly retired: Issuer[];
  /** Intermediates published whose key is not in this directory (see `missingKeys`). */
  readonly keyless: CaCertificate[];
  /** The newest intermediate's serial, and when it signs (after the rotation lead). */
  readonly newest: { readonly serial: string; readonly notBefore: Date; readonly notAfter: Date };
  readonly signsFrom: Date;
  /** Intermediates the store holds whose key is not in this directory's private/ (a rotation made elsewhere). */
  readonly missingKeys: readonly { serial: string; keyIdHex: string }[];
  /** The serial of the intermediate that should sign now, key or not (`active` is another when its key is missing). */
  readonly signer: string;
  /** Changes whenever the store's hierarchy changes (a rotation, a root CRL re-signed, anywhere). */
  readonly stamp: string;
}

/** An opened CA directory and its store. CA keys are only read when {@link LocalCa.authority} is first called. */
export class LocalCa {
  private cached: Authority | undefined;

  private constructor(
    readonly directory: CaDirectory,
    readonly store: CaStore,
    /** Seals every audit row (through the store) and signs the chain heads `ca serve` publishes. */
    readonly auditKey: KeyObject,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens the directory and its store (no CA keys yet; the audit key, which seals every audit row, now), checking
   * that this directory's audit key and root certificate are the ones the store was made with.
   */
  static async open(dir: string, options: { clock?: Clock; env?: NodeJS.ProcessEnv } = {}): Promise<LocalCa> {
    const directory = CaDirectory.open(dir);
    // Only a SQLite database from before the audit chain was keyed (schema < 6) may get a new audit key.
    const audit = directory.auditKey(() => directory.config.database === undefined && sqliteSchemaVersion(directory.databasePath) < FIRST_SEALED_VERSION);
    const store = await openCaStore({ sqlitePath: directory.databasePath, databaseUrl: databaseUrlFor(directory.config, options.env), sealKey: auditSealKey(audit.key), auditKeyFresh: audit.fresh });
    const ca = new LocalCa(directory, store, audit.key, options.clock ?? systemClock);
    try {
      const root = (await store.caCertificates()).find((c) => c.kind === 'root');
      if (!root) throw new CaError('ERR_STORE_CORRUPT', `store: ${store.location} holds no root certificate: it is not a meshca CA database`);
      const file = directory.rootCertificateFile();
      if (file && !file.equals(root.der)) {
        throw new CaError('ERR_KEY_MISMATCH', `store: ${join(directory.dir, CA_FILES.rootCertificate)} is not the root certificate of the CA in ${store.location}: this directory and that database belong to different CAs`);
      }
      await ca.checkShared(FINGERPRINTS.auditKey, audit.key, 'it seals every audit row');
      // Every copy of config.json must name the trust domain the CA's intermediates are constrained to.
      const trustDomain = await store.recordFingerprint('trust-domain', directory.config.trustDomain);
      if (trustDomain !== directory.config.trustDomain) {
        throw new CaError('ERR_CONFIG_INVALID', `config: ${join(directory.dir, CA_FILES.config)} names trust domain ${directory.config.trustDomain}, but this CA's is ${trustDomain}: copy config.json from a working replica`);
      }
      await ca.importLegacyRootCrl(readCaCertificate(root.der));
    } catch (e) {
      await store.close();
      throw e;
    }
    return ca;
  }

  /** Refuses a key file of this directory that is not the one the store recorded for all replicas (recording it if none is). */
  private async checkShared(which: (typeof FINGERPRINTS)[keyof typeof FINGERPRINTS], key: KeyObject, why: string): Promise<void> {
    const mine = keyFingerprint(key);
    if ((await this.store.recordFingerprint(which.name, mine)) !== mine) {
      throw new CaError('ERR_KEY_MISMATCH', `store: ${join(this.directory.dir, which.file)} is not the key this CA's database was made with (${why}): copy the private/ folder of the CA directory from a working replica`);
    }
  }

  /** A directory made before the hierarchy moved into the store kept the root's CRL in root.crl: the store takes it over. */
  private async importLegacyRootCrl(root: CaCertificate): Promise<void> {
    const der = this.directory.legacyRootCrl();
    if (der === undefined || (await this.store.rootCrl()) !== undefined) return;
    const view = readCrl(der);
    const at = this.clock.now();
    await this.store.saveRootCrl(
      { issuerKeyId: root.keyIdHex, level: 'root', number: view.number ?? 0n, der, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate ?? view.thisUpdate, revocationSeq: 0 },
      { at, actor: 'system:migrate', action: 'root-crl-import', target: root.keyIdHex, outcome: 'ok', detail: { from: CA_FILES.legacyRootCrl, number: (view.number ?? 0n).toString() } },
    );
  }

  /** The enrollment token key, checked to be the one every replica of this CA signs tokens with. */
  async tokenKey(passphrase: string | undefined): Promise<KeyObject> {
    const key = this.directory.loadTokenKey(passphrase);
    await this.checkShared(FINGERPRINTS.tokenKey, key, 'every replica must verify the enrollment tokens the others mint');
    return key;
  }

  /**
   * The authority, loading (and if needed decrypting) the intermediate keys the first time: every intermediate that
   * still answers for leaves must have its key in private/, or this refuses to go on and says which is missing.
   * The root key is never loaded here.
   */
  async authority(passphrase: string | undefined): Promise<Authority> {
    if (this.cached) return this.cached;
    const c = this.directory.config;
    const h = await this.hierarchy(passphrase);
    // Only the newest intermediate may lack its key here, and only while it does not sign yet (a rotation made on
    // another machine, its key on its way): then the service warns, as it does when that happens while it runs.
    const blocking = h.missingKeys.filter((m) => m.serial !== h.newest.serial || h.signer === h.newest.serial);
    if (blocking.length > 0 || h.active === undefined) throw this.missingKeyError(blocking.length > 0 ? blocking : h.missingKeys, passphrase);
    this.cached = new Authority({
      root: h.root,
      intermediate: h.active,
      retired: h.retired,
      keyless: h.keyless,
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

  /** Says which intermediates have no key here, and what the key files of private/ are instead. */
  missingKeyError(missing: Hierarchy['missingKeys'], passphrase: string | undefined): CaError {
    const found = this.directory.intermediateKeys(passphrase).map((k) => `${relativeName(this.directory.dir, k.file)} (key id ${k.keyIdHex.slice(0, 16)}…)`);
    const names = missing.map((m) => `${m.serial} (key id ${m.keyIdHex.slice(0, 16)}…)`).join(', ');
    return new CaError(
      'ERR_KEY_MISMATCH',
      `store: ${this.directory.dir}/private holds no key for intermediate ${names} of the CA in ${this.store.location}; ${found.length === 0 ? 'it holds no intermediate key at all' : `it holds ${found.join(', ')}`}: copy the private/ folder from the machine that made it (ca init or ca intermediate rotate)`,
    );
  }

  /**
   * The hierarchy in the store now, with this directory's keys. The newest intermediate signs once it has been
   * published for `rotationLead`; until then the one it replaces goes on signing, so every relying party has the new
   * one's CRL before it meets a leaf of it. Others are kept while they have unexpired leaves; the key file of one
   * that has none left is deleted here (its key would sign nothing).
   */
  async hierarchy(passphrase: string | undefined): Promise<Hierarchy> {
    const now = this.clock.now();
    const certs = await this.store.caCertificates();
    const rootRecord = certs.find((c) => c.kind === 'root');
    const intermediates = certs.filter((c) => c.kind === 'intermediate').sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime() || (a.serial < b.serial ? 1 : -1));
    const newest = intermediates[0];
    if (!rootRecord || !newest) throw new CaError('ERR_STORE_CORRUPT', `store: ${this.store.location} holds no CA hierarchy`);
    const lead = this.directory.config.rotationLeadSeconds * 1000;
    const keys = new Map(this.directory.intermediateKeys(passphrase).map((k) => [k.keyIdHex, k]));
    const kept: Issuer[] = [];
    const keyless: CaCertificate[] = [];
    const live: CertificateRecord[] = [];
    const missingKeys: { serial: string; keyIdHex: string }[] = [];
    for (const record of intermediates) {
      const keyIdHex = keyIdentifier(readCertificate(record.der).spki).toString('hex');
      if (record !== newest) {
        const last = await this.store.lastLeafExpiry(keyIdHex);
        if ((last === undefined || last <= now) && newest.notBefore.getTime() + lead <= now.getTime()) {
          const key = keys.get(keyIdHex);
          if (key) {
            this.directory.removeKeyFile(key.file);
            await this.store.appendAudit({ at: now, actor: 'system:rotate', action: 'drop-intermediate', target: record.serial, outcome: 'ok', detail: { lastLeafExpiry: last?.toISOString() ?? null, keyFile: relativeName(this.directory.dir, key.file) } });
          }
          continue;
        }
      }
      live.push(record);
      const key = keys.get(keyIdHex);
      if (!key) {
        missingKeys.push({ serial: record.serial, keyIdHex });
        if (record.notAfter > now) keyless.push(readCaCertificate(record.der));
      } else kept.push(loadIssuer(record.der, key.key, `intermediate ${record.serial}`));
    }
    const root = readCaCertificate(rootRecord.der);
    const rootCrl = await this.store.rootCrl();
    const stamp = `${certs.filter((c) => c.kind === 'intermediate').map((i) => i.serial).join(',')}/${rootCrl?.number ?? 'none'}`;
    const signsFrom = new Date(newest.notBefore.getTime() + lead);
    const newestView = { serial: newest.serial, notBefore: newest.notBefore, notAfter: newest.notAfter };
    // The signer is the newest intermediate published for at least the lead (so relying parties have its CRL),
    // or, when none is (a CA younger than the lead), the oldest: two rotations inside one lead leave the one that
    // was signing before both in charge until the newest's lead ends.
    const signs = <T>(list: T[], notBefore: (x: T) => Date, notAfter: (x: T) => Date): T | undefined => {
      const usable = list.filter((x) => notAfter(x) > now);
      return usable.find((x) => notBefore(x).getTime() + lead <= now.getTime()) ?? usable.at(-1) ?? list[0];
    };
    const signer = signs(live, (r) => r.notBefore, (r) => r.notAfter)!.serial;
    const active = signs(kept, (i) => i.certificate.notBefore, (i) => i.notAfter);
    return { root, active, retired: kept.filter((i) => i !== active), keyless, newest: newestView, signsFrom, missingKeys, signer, stamp };
  }

  /** Changes whenever the store's hierarchy changes: cheap enough to read every second (no key is loaded). */
  async hierarchyStamp(): Promise<string> {
    const [certs, rootCrl] = await Promise.all([this.store.caCertificates(), this.store.rootCrl()]);
    return `${certs.filter((c) => c.kind === 'intermediate').map((i) => i.serial).join(',')}/${rootCrl?.number ?? 'none'}`;
  }

  /**
   * Refuses a root key in private/ that is not this CA's root key (it would only show when a rotation needed it).
   * A key that does not open with the passphrases given is left for the rotation to report.
   */
  async checkRootKey(passphrase: string | undefined, rootPassphrase: string | undefined): Promise<void> {
    if (!this.directory.hasRootKey) return;
    try {
      await this.rootIssuer(passphrase, { passphrase: rootPassphrase });
    } catch (e) {
      if ((e as CaError).code === 'ERR_KEY_INVALID') throw new CaError('ERR_KEY_MISMATCH', `store: ${join(this.directory.dir, CA_FILES.rootKey)} is not the key of this CA's root certificate`);
      if ((e as CaError).code !== 'ERR_PASSPHRASE_REQUIRED' && (e as CaError).code !== 'ERR_PASSPHRASE_WRONG') throw e;
    }
  }

  /** The root's CRL as last signed; a directory that has none yet gets one now if the root key is at hand. */
  async rootCrl(passphrase: string | undefined): Promise<RootCrl | undefined> {
    const stored = await this.store.rootCrl();
    if (stored) return { der: stored.der, issuerKeyIdHex: stored.issuerKeyId, number: stored.number, thisUpdate: stored.thisUpdate, nextUpdate: stored.nextUpdate };
    if (!this.directory.hasRootKey) return undefined;
    const crl = await this.resignRootCrl(passphrase);
    return { der: crl.der, issuerKeyIdHex: crl.issuerKeyIdHex, number: crl.number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
  }

  /**
   * The root certificate with its key, for ceremonies only: the key from `root.keyFile` (an offline copy) or private/,
   * opened with `root.passphrase` when it has one of its own, else with the CA passphrase.
   */
  private async rootIssuer(passphrase: string | undefined, root: RootKeySource): Promise<Issuer> {
    const record = (await this.store.caCertificates()).find((c) => c.kind === 'root')!;
    return loadIssuer(record.der, this.directory.loadRootKey(root.passphrase ?? passphrase, root.keyFile), 'root');
  }

  /** Re-signs the root's CRL with the root key and stores it. */
  async resignRootCrl(passphrase: string | undefined, rootKey: RootKeySource = {}): Promise<SignedCrl> {
    const root = await this.rootIssuer(passphrase, rootKey);
    const c = this.directory.config;
    return signRootCrl(this.store, root, wholeSeconds(this.clock.now()), rootCrlValidity(c.rootCrlValiditySeconds, c.intermediateLifetimeSeconds), c.crlRetentionSeconds);
  }

  /**
   * Makes a new intermediate with the root key (from `rootKeyFile`, or private/): it is published at once and signs
   * new leaves after the rotation lead, while the old one keeps signing its CRL and OCSP answers until its last leaf
   * expires. The key is written first (private/intermediates/<serial>.key), then the certificate is recorded in the
   * store, which is what every running service watches; a rotation made meanwhile by another process wins and this
   * one is undone.
   */
  async rotateIntermediate(passphrase: string | undefined, rootKey: RootKeySource = {}, caller: Caller = { actor: 'system:rotate' }): Promise<RotationResult> {
    const c = this.directory.config;
    if (c.encryptedKeys && passphrase === undefined) throw new CaError('ERR_PASSPHRASE_REQUIRED', 'store: the CA keys are encrypted: set CA_PASSPHRASE or pass --passphrase-file');
    const root = await this.rootIssuer(passphrase, rootKey);
    // The existing keys must open with this passphrase: one passphrase opens every key of the directory.
    this.directory.intermediateKeys(passphrase);
    const intermediates = (await this.store.caCertificates()).filter((r) => r.kind === 'intermediate');
    const previous = intermediates.reduce((a, b) => (b.notBefore > a.notBefore || (b.notBefore.getTime() === a.notBefore.getTime() && b.serial > a.serial) ? b : a));
    // notBefore strictly after every intermediate's: which one signs is decided by their order (see hierarchy()),
    // and two rotations within one second would otherwise tie.
    const now = wholeSeconds(this.clock.now());
    const notBefore = now > previous.notBefore ? now : new Date(previous.notBefore.getTime() + 1000);
    if (root.notAfter.getTime() - notBefore.getTime() < c.maxTtlSeconds * 1000) {
      throw new CaError('ERR_ROTATION_FAILED', `authority: the root expires at ${root.notAfter.toISOString()}, too soon for a new intermediate; make a new root`);
    }
    const made = createIntermediate({ name: c.name, trustDomain: c.trustDomain, keyType: c.keyType, urls: publicationUrls(c.publicUrl), now: notBefore, root, lifetimeSeconds: c.intermediateLifetimeSeconds });
    const record = caRecord(made.der, 'intermediate', root.keyIdHex, `${c.name} Intermediate CA`);
    const keyFile = this.directory.writeIntermediateKey(record.serial, made.key, c.encryptedKeys ? passphrase : undefined);
    try {
      await this.store.recordIntermediate(record, { at: now, actor: caller.actor, action: 'rotate-intermediate', target: record.serial, outcome: 'ok', detail: { previous: previous.serial, notAfter: record.notAfter.toISOString() } }, previous.serial);
    } catch (e) {
      this.directory.removeKeyFile(keyFile);
      throw e;
    }
    const crl = await signRootCrl(this.store, root, now, rootCrlValidity(c.rootCrlValiditySeconds, c.intermediateLifetimeSeconds), c.crlRetentionSeconds);
    this.directory.writePublicCertificates(root.certificate.der, made.der);
    const signsFrom = new Date(record.notBefore.getTime() + c.rotationLeadSeconds * 1000);
    return { previous: { serial: previous.serial, notAfter: previous.notAfter }, current: { serial: record.serial, notBefore: record.notBefore, notAfter: record.notAfter }, signsFrom, rootCrlNextUpdate: crl.nextUpdate, keyFile };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
