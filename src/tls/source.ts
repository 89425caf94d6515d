// Credential sources for meshca/tls: a key, its certificate chain, the trust bundle and CRLs, kept current.

import { createPublicKey } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { CaClient, type IssuedCertificate } from '../client/ca-client.js';
import { fetchBytes } from '../client/fetch.js';
import { renewOnce, renewalTime, retryDelayMs } from '../client/renewer.js';
import { generateKeyPair, privateKeyFromPem, privateKeyToPem, spkiOf } from '../crypto/keys.js';
import { readPemBlocks, readPemLabelled, toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { createCsr } from '../pki/csr.js';
import { readCrl } from '../revocation/crl.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { identityOf, type PeerIdentity } from './identity.js';

/** What to do when the CRLs are past their nextUpdate: refuse every peer (default) or stop checking revocation. */
export type RevocationPolicy = 'failClosed' | 'failOpen';

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
}

/** Checks that the key is the leaf's and that every part parses; returns the loaded credentials. */
function load(c: TlsCredentials): Loaded {
  const chain = readPemLabelled(c.cert, ['CERTIFICATE'], 'certificate file');
  const leaf = readCertificate(chain[0]!);
  const key = privateKeyFromPem(c.key, undefined, 'service key');
  if (!spkiOf(createPublicKey(key)).equals(leaf.spki)) throw new CaError('ERR_KEY_INVALID', 'tls: the key does not match the certificate');
  readPemLabelled(c.ca, ['CERTIFICATE'], 'trust bundle').forEach(readCertificate);
  let crlNextUpdate: Date | undefined;
  if (c.crl !== undefined) {
    const crls = readPemBlocks(c.crl).filter((b) => b.label === 'X509 CRL' || b.label === 'CRL');
    if (crls.length === 0) throw new CaError('ERR_PEM_INVALID', 'tls: the CRL file holds no X509 CRL block');
    for (const b of crls) {
      const next = readCrl(b.der).nextUpdate;
      if (next && (!crlNextUpdate || next < crlNextUpdate)) crlNextUpdate = next;
    }
  }
  return { ...c, identity: identityOf(chain[0]!), crlNextUpdate };
}

/**
 * Where a server's or agent's credentials come from. Emits `renewed` (new certificate), `updated` (new trust
 * bundle or CRLs), `expiring` (less than a sixth of the lifetime left) and `error` (a reload or renewal failed;
 * the current credentials stay in use). Without an `error` listener, errors are dropped, never thrown.
 */
export class CertificateSource extends EventEmitter {
  protected current: Loaded;
  private warnedExpiring = '';

  protected constructor(
    initial: TlsCredentials,
    readonly revocation: RevocationPolicy,
  ) {
    super();
    this.current = load(initial);
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

  /** True when the CRLs belong in the context: configured, and not stale under `failOpen`. */
  private crlsInForce(): boolean {
    return this.current.crl !== undefined && !(this.revocation === 'failOpen' && this.crlStale());
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

  /** Stops watching and renewing. */
  close(): void {
    this.removeAllListeners('renewed');
  }

  /**
   * Credentials from files, reloaded whenever any of them changes (e.g. rewritten by `ca renew --daemon`).
   *
   * @example
   * const source = CertificateSource.fromFiles({ cert: 'svc.pem', key: 'svc.key', ca: 'root.pem', crl: 'crls.pem' });
   */
  static fromFiles(o: { cert: string; key: string; ca: string; crl?: string; revocation?: RevocationPolicy; pollIntervalMs?: number }): CertificateSource {
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

class FileSource extends CertificateSource {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: { cert: string; key: string; ca: string; crl?: string; revocation?: RevocationPolicy; pollIntervalMs?: number }) {
    super(FileSource.read(o), o.revocation ?? 'failClosed');
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
  readonly revocation?: RevocationPolicy;
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
    super(initial, o.revocation ?? 'failClosed');
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

  private scheduleRenewal(): void {
    const leaf = readCertificate(readPemLabelled(this.current.cert, ['CERTIFICATE'], 'certificate')[0]!);
    const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    const receivedAt = this.received?.serial === leaf.serial ? this.received.at : undefined;
    const wait = this.failures === 0 ? renewalTime(leaf.notBefore, leaf.notAfter, Math.random, receivedAt).getTime() - Date.now() : retryDelayMs(this.failures, life);
    this.later(wait, async () => {
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
    });
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
