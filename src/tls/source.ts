// Credential sources for meshca/tls: a key, its certificate chain, the trust bundle and CRLs, kept current.

import { createPublicKey } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { CaClient, type IssuedCertificate } from '../client/ca-client.js';
import { fetchBytes } from '../client/fetch.js';
import { adviceMayApply, fetchRenewalInfo, renewalMoment, renewOnce, renewalTime, retryDelayMs } from '../client/renewer.js';
import { generateKeyPair, keyIdentifier, privateKeyFromPem, privateKeyToPem, spkiOf } from '../crypto/keys.js';
import { readPemBlocks, readPemLabelled, toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { createCsr } from '../pki/csr.js';
import { crlSerials, readCrl } from '../revocation/crl.js';
import { RevocationStream, type RenewalNotice, type RevocationNotice } from '../client/revocation-stream.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { identityOf, type PeerIdentity } from './identity.js';

/** What to do when the CRLs are past their nextUpdate: refuse every peer (default) or stop checking revocation. */
export type RevocationPolicy = 'failClosed' | 'failOpen';

/** How a source learns of revocations: CRLs always, and the CA's revocation stream when `push` is on. */
export interface RevocationOptions {
  /** When revocation status is unknown (CRLs stale and the stream down past its grace): refuse (default) or accept. */
  readonly policy?: RevocationPolicy;
  /**
   * Subscribe to the CA's revocation stream (`/v1/revocations/stream`): a revocation is refused on new handshakes
   * and established connections with that peer are closed within a second or two, without waiting for a CRL.
   * Default true for `fromCA`; `fromFiles` subscribes when given `caUrl`.
   */
  readonly push?: boolean;
  /** How long the stream may be down and still stand in for CRLs past their nextUpdate (default 60 s). */
  readonly streamGraceMs?: number;
}

function revocationOptions(r: RevocationPolicy | RevocationOptions | undefined): { policy: RevocationPolicy; push: boolean | undefined; graceMs: number } {
  const o = typeof r === 'string' ? { policy: r } : (r ?? {});
  return { policy: o.policy ?? 'failClosed', push: o.push, graceMs: o.streamGraceMs ?? 60_000 };
}

/** PEM credentials as Node's tls takes them. */
export interface TlsCredentials {
  readonly key: string;
  /** The leaf followed by its chain. */
  readonly cert: string;
  /** The trust bundle (roots, and intermediates if given). */
  readonly ca: string;
  /** CRLs of every level, `X509 CRL` PEM; absent when revocation is not checked. */
  readonly crl?: string;
}

interface Loaded extends TlsCredentials {
  readonly identity: PeerIdentity;
  readonly crlNextUpdate: Date | undefined;
  /** The serials the CRLs list: checked by the source itself while stale CRLs are left out of the TLS context. */
  readonly crlRevoked: ReadonlySet<string>;
  /** Key ids of the issuers this source knows: the bundle's, its own chain's, and those that signed its CRLs. */
  readonly issuerKeyIds: readonly Buffer[];
}

/** Checks that the key is the leaf's and that every part parses; returns the loaded credentials. */
function load(c: TlsCredentials): Loaded {
  const chain = readPemLabelled(c.cert, ['CERTIFICATE'], 'certificate file');
  const leaf = readCertificate(chain[0]!);
  const key = privateKeyFromPem(c.key, undefined, 'service key');
  if (!spkiOf(createPublicKey(key)).equals(leaf.spki)) throw new CaError('ERR_KEY_INVALID', 'tls: the key does not match the certificate');
  readPemLabelled(c.ca, ['CERTIFICATE'], 'trust bundle').forEach(readCertificate);
  let crlNextUpdate: Date | undefined;
  const crlRevoked = new Set<string>();
  const issuerKeyIds = [...readPemLabelled(c.ca, ['CERTIFICATE'], 'trust bundle'), ...chain.slice(1)].map((der) => keyIdentifier(readCertificate(der).spki));
  if (c.crl !== undefined) {
    const crls = readPemBlocks(c.crl).filter((b) => b.label === 'X509 CRL' || b.label === 'CRL');
    if (crls.length === 0) throw new CaError('ERR_PEM_INVALID', 'tls: the CRL file holds no X509 CRL block');
    for (const b of crls) {
      const view = readCrl(b.der);
      const next = view.nextUpdate;
      if (next && (!crlNextUpdate || next < crlNextUpdate)) crlNextUpdate = next;
      if (view.authorityKeyId) issuerKeyIds.push(view.authorityKeyId);
      for (const serial of crlSerials(b.der)) crlRevoked.add(serial);
    }
  }
  return { ...c, identity: identityOf(chain[0]!), crlNextUpdate, crlRevoked, issuerKeyIds };
}

/**
 * Where a server's or agent's credentials come from. Emits `renewed` (new certificate), `updated` (new trust
 * bundle or CRLs), `revoked` (a RevocationNotice pushed by the CA: servers and agents built on this source close
 * their connections with that peer), `expiring` (less than a sixth of the lifetime left) and `error` (a reload,
 * renewal or the revocation stream failed, or a forged event was ignored; the current credentials stay in use).
 * Without an `error` listener, errors are dropped, never thrown.
 */
export class CertificateSource extends EventEmitter {
  protected current: Loaded;
  private warnedExpiring = '';
  /** Revocations pushed by the CA, serial → notAfter (ms): forgotten once the certificate has expired anyway. */
  private readonly pushed = new Map<string, number>();
  /** The CA's revocation stream, when subscribed. */
  protected stream: RevocationStream | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  /** What to do when revocation status is unknown. */
  readonly revocation: RevocationPolicy;
  private readonly streamGraceMs: number;

  protected constructor(initial: TlsCredentials, revocation: RevocationPolicy | RevocationOptions | undefined) {
    super();
    // Every server and agent on a source listens for its revocations: many of them are not a leak.
    this.setMaxListeners(0);
    const r = revocationOptions(revocation);
    this.revocation = r.policy;
    this.streamGraceMs = r.graceMs;
    this.current = load(initial);
    this.crlsWereInForce = this.crlsInForce();
  }

  /**
   * Key ids of the issuers this source knows (its bundle, its own chain, the signers of its CRLs): a refused peer
   * whose issuer is one of them is one of this CA's, whatever OpenSSL looked for first.
   */
  issuerKeyIds(): readonly Buffer[] {
    return this.current.issuerKeyIds;
  }

  /** True when the CA said (on its stream, or in the CRLs this source holds) that the certificate `serial` is revoked. */
  isRevoked(serial: string): boolean {
    return this.pushed.has(serial) || this.current.crlRevoked.has(serial);
  }

  /** True while the revocation stream is connected, or was within its grace. */
  pushFresh(now: number = Date.now()): boolean {
    const s = this.stream;
    return s !== undefined && (s.connected || (s.lastContact > 0 && now - s.lastContact < this.streamGraceMs));
  }

  /** True when peers must be refused for want of revocation data: failClosed, CRLs stale, and no live stream. */
  revocationUnknown(now: Date = new Date()): boolean {
    return this.revocation === 'failClosed' && this.crlStale(now) && !this.pushFresh(now.getTime());
  }

  /** The connected state of the revocation stream, and where it is (for health checks and logs). */
  get revocationStream(): { connected: boolean; lastContact: Date | null; lastEventId: string | undefined } | undefined {
    const s = this.stream;
    return s === undefined ? undefined : { connected: s.connected, lastContact: s.lastContact > 0 ? new Date(s.lastContact) : null, lastEventId: s.lastEventId };
  }

  /** Subscribes to the CA's revocation stream, authenticated with this source's current certificate. */
  protected subscribe(caUrl: string, caBundlePem: string): void {
    // Statements are checked against the trust bundle and the intermediates of this source's own chain (a bundle of
    // the root alone is common with fromFiles).
    const issuers = (): string => `${this.current.ca}\n${readPemLabelled(this.current.cert, ['CERTIFICATE'], 'certificate').slice(1).map((der) => toPem('CERTIFICATE', der)).join('')}`;
    let cached: { for: Loaded; pem: string } | undefined;
    const trustBundle = (): string => {
      if (cached?.for !== this.current) cached = { for: this.current, pem: issuers() };
      return cached.pem;
    };
    const stream = new RevocationStream({ caUrl, caBundle: caBundlePem, credentials: () => ({ cert: this.current.cert, key: this.current.key }), trustBundle });
    this.stream = stream;
    stream.on('revoked', (n: RevocationNotice) => this.pushRevocation(n));
    stream.on('forged', (e: unknown) => this.report(e));
    stream.on('renew', (n: RenewalNotice) => this.onRenewalAdvice(n));
    stream.on('resync', () => this.onResync());
    // Said once per outage, not at every retry: when a live stream drops, and when it cannot be made at all (a wrong
    // caUrl would otherwise go unnoticed until stale CRLs refuse every peer).
    let told = false;
    stream.on('disconnected', (e: unknown, wasConnected: boolean) => {
      if (wasConnected || !told) this.report(e);
      told = true;
      if (wasConnected) this.recheckRevocationMode();
    });
    stream.on('connected', () => {
      told = false;
      this.recheckRevocationMode();
    });
    // Started once the caller has had the chance to listen for `error` (a first failure is reported, not lost).
    setImmediate(() => {
      if (this.stream === stream) stream.start();
    });
  }

  private pushRevocation(n: RevocationNotice): void {
    if (this.pushed.has(n.serial)) return;
    const now = Date.now();
    for (const [serial, notAfter] of this.pushed) if (notAfter <= now) this.pushed.delete(serial);
    this.pushed.set(n.serial, n.notAfter.getTime());
    this.emit('revoked', n);
  }

  /** Renewal advice from the stream (only a source that renews acts on it). */
  protected onRenewalAdvice(_n: RenewalNotice): void {}

  /** More was missed than the CA replays: the CRLs list it (only a source that fetches them acts on it). */
  protected onResync(): void {}

  /** Whether the CRLs were in the TLS contexts when they were last built (see {@link recheckRevocationMode}). */
  private crlsWereInForce: boolean;

  /**
   * While the stream is live it stands in for CRLs past their nextUpdate: the TLS contexts are rebuilt without them
   * (the source checks the serials the stale CRLs list itself), and with them again once the stream has been down
   * past its grace. Called when the stream connects or drops, and at the next moment the answer can change.
   */
  private recheckRevocationMode(): void {
    clearTimeout(this.staleTimer);
    const inForce = this.crlsInForce();
    if (inForce !== this.crlsWereInForce) this.emit('updated', this.current.identity);
    this.crlsWereInForce = inForce;
    const s = this.stream;
    const nextUpdate = this.current.crlNextUpdate?.getTime();
    if (s === undefined || nextUpdate === undefined) return;
    const now = Date.now();
    const at = !this.crlStale() ? nextUpdate : !s.connected && s.lastContact > 0 ? s.lastContact + this.streamGraceMs : undefined;
    if (at === undefined || at + 50 <= now) return;
    this.staleTimer = setTimeout(() => this.recheckRevocationMode(), Math.min(at - now + 50, 2 ** 31 - 1));
    this.staleTimer.unref();
  }

  /** Identity of the current certificate. */
  get identity(): PeerIdentity {
    return this.current.identity;
  }

  /** The current credentials. */
  credentials(): TlsCredentials {
    const { key, cert, ca, crl } = this.current;
    return crl === undefined ? { key, cert, ca } : { key, cert, ca, crl };
  }

  /** True when CRLs are configured and past their nextUpdate. */
  crlStale(now: Date = new Date()): boolean {
    return this.current.crlNextUpdate !== undefined && this.current.crlNextUpdate <= now;
  }

  /**
   * Options for a secure context. Each CRL is passed as its own array element: Node reads one CRL per entry, and
   * checks every level of the chain, so a PEM holding both levels as one string would leave the second unread.
   * With a stale CRL under `failOpen`, the CRLs are left out rather than refusing every peer.
   */
  secureContext(): Pick<SecureContextOptions, 'key' | 'cert' | 'ca' | 'crl'> {
    const { key, cert, ca, crl } = this.current;
    if (crl === undefined || !this.crlsInForce()) return { key, cert, ca };
    return { key, cert, ca, crl: readPemBlocks(crl).map((b) => toPem('X509 CRL', b.der)) };
  }

  /** True when the CRLs belong in the context: configured, and not stale under `failOpen` or with a live stream. */
  private crlsInForce(): boolean {
    return this.current.crl !== undefined && !(this.crlStale() && (this.revocation === 'failOpen' || this.pushFresh()));
  }

  private readonly contexts = new Map<string, { for: Loaded; withCrl: boolean; value: SecureContext }>();

  /**
   * The current credentials as a ready OpenSSL context, built once per credential change (building one parses the
   * key, chain, trust bundle and CRLs: most of a client handshake's CPU when done per connection).
   */
  tlsContext(minVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.2'): SecureContext {
    // Decided without reading the CRLs: they are parsed only when a context is (re)built, never per connection.
    const withCrl = this.crlsInForce();
    let cached = this.contexts.get(minVersion);
    if (cached?.for !== this.current || cached.withCrl !== withCrl) {
      cached = { for: this.current, withCrl, value: createSecureContext({ ...this.secureContext(), minVersion }) };
      this.contexts.set(minVersion, cached);
    }
    return cached.value;
  }

  /** Swaps in new credentials after validating them; invalid ones are reported and never replace good ones. */
  protected install(next: TlsCredentials): boolean {
    let loaded: Loaded;
    try {
      loaded = load(next);
    } catch (e) {
      this.report(e);
      return false;
    }
    const previous = this.current;
    this.current = loaded;

    if (loaded.identity.serial !== previous.identity.serial) this.emit('renewed', loaded.identity);
    else if (loaded.ca !== previous.ca || loaded.crl !== previous.crl) this.emit('updated', loaded.identity);
    // Those events rebuilt the contexts as they are now; when that changes next is rechecked from here.
    this.crlsWereInForce = this.crlsInForce();
    if (this.stream) this.recheckRevocationMode();
    return true;
  }

  protected checkExpiring(now = Date.now()): void {
    const id = this.current.identity;
    const leaf = readCertificate(readPemLabelled(this.current.cert, ['CERTIFICATE'], 'certificate')[0]!);
    const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    if (leaf.notAfter.getTime() - now < life / 6 && this.warnedExpiring !== id.serial) {
      this.warnedExpiring = id.serial;
      this.emit('expiring', id);
    }
  }

  protected report(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  /** Stops watching and renewing, and leaves the revocation stream. */
  close(): void {
    this.stream?.close();
    this.stream = undefined;
    clearTimeout(this.staleTimer);
    this.removeAllListeners('renewed');
  }

  /**
   * Credentials from files, reloaded whenever any of them changes (e.g. rewritten by `ca renew --daemon`). With
   * `caUrl`, it also subscribes to the CA's revocation stream with the certificate in `cert` (`caBundle`: the root
   * the CA service chains to, default the `ca` file).
   *
   * @example
   * const source = CertificateSource.fromFiles({ cert: 'svc.pem', key: 'svc.key', ca: 'bundle.pem', crl: 'crls.pem', caUrl: 'https://ca:8443' });
   */
  static fromFiles(o: FromFilesOptions): CertificateSource {
    return new FileSource(o);
  }

  /**
   * Credentials from a running CA: enrolls with `token` the first time, keeps key and certificate in `dir` so a
   * restart reuses them, renews over mTLS at two thirds of the lifetime, backs off while the CA is unreachable
   * (serving with the current certificate meanwhile), and refreshes the trust bundle and CRLs.
   *
   * @example
   * const source = await CertificateSource.fromCA({ caUrl: 'https://ca:8443', caBundle: 'root.pem', dir: '/var/lib/svc', token: process.env.TOKEN });
   */
  static fromCA(o: FromCaOptions): Promise<CertificateSource> {
    return CaSource.start(o);
  }
}

const fileState = (paths: readonly string[]): string =>
  paths
    .map((p) => {
      try {
        const s = statSync(p);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');

export interface FromFilesOptions {
  readonly cert: string;
  readonly key: string;
  /** The trust bundle (root, and intermediates). */
  readonly ca: string;
  readonly crl?: string;
  readonly revocation?: RevocationPolicy | RevocationOptions;
  readonly pollIntervalMs?: number;
  /** The CA's HTTPS API: subscribe to its revocation stream (unless `revocation.push` is false). */
  readonly caUrl?: string;
  /** Path of the root the CA service's TLS certificate chains to (default: the `ca` file). */
  readonly caBundle?: string;
}

class FileSource extends CertificateSource {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: FromFilesOptions) {
    super(FileSource.read(o), o.revocation);
    if (o.caUrl !== undefined && revocationOptions(o.revocation).push !== false) {
      let url: URL | undefined;
      try {
        url = new URL(o.caUrl);
      } catch {
        url = undefined;
      }
      if (url?.protocol !== 'https:') throw new CaError('ERR_USAGE', `tls: caUrl must be the CA's HTTPS API (https://HOST:PORT), not ${JSON.stringify(o.caUrl.slice(0, 100))}`);
      let root: string;
      try {
        root = readFileSync(o.caBundle ?? o.ca, 'utf8');
      } catch (e) {
        throw new CaError('ERR_FILE_NOT_FOUND', `tls: cannot read ${o.caBundle ?? o.ca} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      this.subscribe(o.caUrl, root);
    }
    const paths = [o.cert, o.key, o.ca, ...(o.crl ? [o.crl] : [])];
    let seen = fileState(paths);
    // Files in a state that failed to load: reported once, retried only when they change again (a half-written
    // file would otherwise report the same error at every poll).
    let failed: string | undefined;
    // Polling stat() survives atomic rename-over writes, which fs.watch loses track of.
    this.timer = setInterval(() => {
      const now = fileState(paths);
      if (now !== seen && now !== failed) {
        try {
          if (this.install(FileSource.read(this.o))) seen = now;
          else failed = now;
        } catch (e) {
          this.report(e);
          failed = now;
        }
      }
      this.checkExpiring();
    }, o.pollIntervalMs ?? 500);
    this.timer.unref();
  }

  private static read(o: { cert: string; key: string; ca: string; crl?: string }): TlsCredentials {
    const text = (p: string) => {
      try {
        return readFileSync(p, 'utf8');
      } catch (e) {
        throw new CaError('ERR_FILE_NOT_FOUND', `tls: cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    };
    return { cert: text(o.cert), key: text(o.key), ca: text(o.ca), ...(o.crl ? { crl: text(o.crl) } : {}) };
  }

  override close(): void {
    clearInterval(this.timer);
    super.close();
  }
}

export interface FromCaOptions {
  /** The CA's HTTPS API, e.g. `https://127.0.0.1:8443`. */
  readonly caUrl: string;
  /** Path of the root certificate to trust. */
  readonly caBundle: string;
  /** Where the key (0600) and certificate live between restarts. */
  readonly dir: string;
  /** Enrollment token for the first certificate (not needed once `dir` holds a current one). */
  readonly token?: string;
  readonly name?: string;
  readonly spiffeId?: string;
  readonly dns?: readonly string[];
  /** Revocation checking: CRLs, and the CA's revocation stream (on by default here: `{ push: false }` turns it off). */
  readonly revocation?: RevocationPolicy | RevocationOptions;
  /** How often the trust bundle and CRLs are refetched (default 5 minutes, and at the CRLs' nextUpdate). */
  readonly refreshIntervalMs?: number;
}

class CaSource extends CertificateSource {
  private timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private failures = 0;

  private constructor(
    initial: TlsCredentials,
    private readonly o: FromCaOptions,
    private readonly client: CaClient,
    private readonly rootPem: string,
  ) {
    super(initial, o.revocation);
  }

  private get files() {
    return { certPath: join(this.o.dir, 'cert.pem'), keyPath: join(this.o.dir, 'key.pem') };
  }

  static async start(o: FromCaOptions): Promise<CaSource> {
    const rootPem = readFileSync(o.caBundle, 'utf8');
    const client = new CaClient({ caUrl: o.caUrl, caBundle: rootPem });
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const certPath = join(o.dir, 'cert.pem');
    const keyPath = join(o.dir, 'key.pem');
    let current: { cert: string; key: string } | undefined;
    if (existsSync(certPath) && existsSync(keyPath)) {
      const cert = readFileSync(certPath, 'utf8');
      const leaf = readCertificate(readPemLabelled(cert, ['CERTIFICATE'], 'certificate')[0]!);
      if (leaf.notAfter > new Date()) current = { cert, key: readFileSync(keyPath, 'utf8') };
    }
    if (!current) {
      if (!o.token) throw new CaError('ERR_UNAUTHENTICATED', `tls: ${o.dir} holds no current certificate and no enrollment token was given`);
      const key = generateKeyPair('ec-p256').privateKey;
      const issued = await client.call<IssuedCertificate>('POST', '/v1/sign', { bearer: o.token }, {
        csr: toPem('CERTIFICATE REQUEST', createCsr(key, o.name ?? 'service')),
        ...(o.name ? { name: o.name } : {}),
        ...(o.spiffeId ? { spiffeId: o.spiffeId } : {}),
        ...(o.dns ? { dnsNames: o.dns } : {}),
      });
      current = { cert: `${issued.certificate}${issued.chain}`, key: privateKeyToPem(key) };
      writeFileAtomic(keyPath, current.key, 0o600);
      writeFileAtomic(certPath, current.cert, 0o644);
    }
    const trust = await CaSource.fetchTrust(o.caUrl, rootPem);
    const source = new CaSource({ ...current, ...trust }, o, client, rootPem);
    source.scheduleRenewal();
    source.scheduleRefresh();
    if (revocationOptions(o.revocation).push !== false) source.subscribe(o.caUrl, rootPem);
    return source;
  }

  private static async fetchTrust(caUrl: string, rootPem: string): Promise<{ ca: string; crl: string }> {
    const base = caUrl.replace(/\/+$/, '');
    // The trust bundle becomes what this service trusts: it is taken only from the CA service itself.
    const from = { caBundle: rootPem, caService: true };
    const [bundle, crl] = await Promise.all([fetchBytes(`${base}/v1/trust-bundle`, from), fetchBytes(`${base}/crl/all.pem`, from)]);
    return { ca: bundle.toString('utf8'), crl: crl.toString('utf8') };
  }

  private later(ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    t.unref();
    this.timers.add(t);
  }

  /** The certificate this source last received from the CA, and when (see renewalTime). */
  private received: { serial: string; at: Date } | undefined;

  private renewalTimer: NodeJS.Timeout | undefined;
  /** The moment drawn inside the CA's current suggested window (kept while the window stays the same). */
  private moment: { window: string; at: Date } | undefined;

  /** (Re)plans the next renewal; a plan made before (a timer) is replaced. */
  private scheduleRenewal(): void {
    this.setRenewalTimer(0, () => this.planRenewal());
  }

  private setRenewalTimer(ms: number, fn: () => Promise<void>): void {
    if (this.renewalTimer) {
      clearTimeout(this.renewalTimer);
      this.timers.delete(this.renewalTimer);
    }
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.renewalTimer === t) this.renewalTimer = undefined;
      void fn();
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    t.unref();
    this.timers.add(t);
    this.renewalTimer = t;
  }

  /**
   * When to renew: at a random moment inside the window the CA suggests for this certificate (renewal-info, asked
   * again every Retry-After, at once on renewal advice from the stream), or, when the CA cannot say, at two thirds
   * of the lifetime. After a failure, with backoff.
   */
  private async planRenewal(): Promise<void> {
    const leaf = readCertificate(readPemLabelled(this.current.cert, ['CERTIFICATE'], 'certificate')[0]!);
    const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    const receivedAt = this.received?.serial === leaf.serial ? this.received.at : undefined;
    let wait: number;
    let recheck = Infinity;
    if (this.failures > 0) wait = retryDelayMs(this.failures, life);
    else {
      try {
        const info = await fetchRenewalInfo(this.client, leaf.serial);
        this.moment = renewalMoment(info, leaf, this.moment, receivedAt);
        recheck = info.retryAfterMs;
      } catch {
        this.moment = { window: '', at: renewalTime(leaf.notBefore, leaf.notAfter, Math.random, receivedAt) };
        recheck = 5 * 60_000;
      }
      wait = this.moment.at.getTime() - Date.now();
    }
    if (wait > recheck) this.setRenewalTimer(recheck, () => this.planRenewal());
    else this.setRenewalTimer(wait, () => this.renewNow());
  }

  private async renewNow(): Promise<void> {
    try {
      const issued = await renewOnce(this.client, this.files, false);
      this.received = { serial: issued.serial, at: new Date() };
      this.failures = 0;
      this.install({ ...this.credentials(), cert: `${issued.certificate}${issued.chain}`, key: readFileSync(this.files.keyPath, 'utf8') });
    } catch (e) {
      this.failures++;
      this.report(e);
    }
    this.checkExpiring();
    this.scheduleRenewal();
  }

  /** Advice that may cover this certificate: renewal-info is asked again, after up to a second (a fleet spreads out). */
  protected override onRenewalAdvice(n: RenewalNotice): void {
    const leaf = readCertificate(readPemLabelled(this.current.cert, ['CERTIFICATE'], 'certificate')[0]!);
    if (this.failures === 0 && adviceMayApply(n, leaf)) this.setRenewalTimer(Math.random() * 1_000, () => this.planRenewal());
  }

  protected override onResync(): void {
    void CaSource.fetchTrust(this.o.caUrl, this.rootPem).then((trust) => void this.install({ ...this.credentials(), ...trust }), (e: unknown) => this.report(e));
  }

  private scheduleRefresh(): void {
    const every = this.o.refreshIntervalMs ?? 5 * 60_000;
    const next = this.current.crlNextUpdate ? Math.min(every, this.current.crlNextUpdate.getTime() - Date.now()) : every;
    this.later(Math.max(1_000, next), async () => {
      try {
        const trust = await CaSource.fetchTrust(this.o.caUrl, this.rootPem);
        this.install({ ...this.credentials(), ...trust });
      } catch (e) {
        this.report(e);
      }
      this.scheduleRefresh();
    });
  }

  override close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    super.close();
  }
}
