// Keeps the published CRLs current: each intermediate's re-signed after a revocation and at half its validity; the root's as signed offline.

import type { CrlLevel, SignedCrl } from '../authority/authority.js';
import type { CaCertificate } from '../authority/issuer.js';
import { toPem } from '../crypto/pem.js';

/** How soon a failed round is tried again. */
const RETRY_MS = 5_000;

/** A CRL as served: DER, and the HTTP validators derived from it. */
export interface PublishedCrl extends Pick<SignedCrl, 'level' | 'issuerKeyIdHex' | 'der' | 'number' | 'thisUpdate' | 'nextUpdate'> {
  readonly entries: number | null;
  readonly etag: string;
}

/** The root's CRL as the CA directory holds it: signed at init, at each rotation, or by hand with the root key. */
export type RootCrl = Omit<PublishedCrl, 'etag' | 'level' | 'entries'>;

export interface CrlPublisherOptions {
  /** The intermediates whose CRLs are published, the current one first (retired ones follow until their leaves expire). */
  readonly issuers: () => readonly CaCertificate[];
  /** The CRL to serve for an intermediate (signed here, or as another replica published it). */
  readonly sign: (issuer: CaCertificate) => Promise<SignedCrl>;
  /** The root's CRL as last signed, or undefined when there is none yet. */
  readonly rootCrl: () => Promise<RootCrl | undefined>;
  readonly onError: (e: unknown) => void;
  readonly onPublished?: (crl: PublishedCrl) => void;
}

/**
 * Holds the current CRL of the root and of each intermediate. `refresh()` calls are coalesced: one regeneration
 * runs at a time and a request that arrives during it schedules exactly one more, so a burst of revocations costs
 * two rounds of CRLs, not N.
 */
export class CrlPublisher {
  private root: PublishedCrl | undefined;
  private byIssuer = new Map<string, PublishedCrl>();
  private activeKeyId: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When the last round failed (the database was out of reach): the CRLs signed before keep being served. */
  private failedAt: number | undefined;

  constructor(private readonly options: CrlPublisherOptions) {}

  /** The root's CRL, or the current intermediate's. */
  get(level: CrlLevel): PublishedCrl | undefined {
    return level === 'root' ? this.root : this.activeKeyId === undefined ? undefined : this.byIssuer.get(this.activeKeyId);
  }

  /** The CRL of the intermediate with this key id (hex), current or retired. */
  byKeyId(issuerKeyIdHex: string): PublishedCrl | undefined {
    return this.byIssuer.get(issuerKeyIdHex);
  }

  /** Every CRL in the bundle: the root's, then each intermediate's, current first. */
  all(): PublishedCrl[] | undefined {
    const current = this.get('intermediate');
    if (!this.root || !current) return undefined;
    return [this.root, current, ...[...this.byIssuer.values()].filter((c) => c !== current)];
  }

  /** Every level as `X509 CRL` PEM, root first (what Node's tls `crl` option and `openssl -CRLfile` take). */
  pem(): string | undefined {
    return this.all()?.map((c) => toPem('X509 CRL', c.der)).join('');
  }

  /** Re-signs every intermediate's CRL and re-reads the root's (coalesced); resolves when a round that started after this call has finished. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running ?? undefined);
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          const root = await this.options.rootCrl();
          if (root && root.number !== this.root?.number) {
            this.root = { ...root, level: 'root', entries: null, etag: `"root-${root.number}"` };
            this.options.onPublished?.(this.root);
          }
          const issuers = this.options.issuers();
          const next = new Map<string, PublishedCrl>();
          for (const issuer of issuers) {
            const signed = await this.options.sign(issuer);
            const published = { ...signed, etag: `"${signed.issuerKeyIdHex.slice(0, 16)}-${signed.number}"` };
            next.set(issuer.keyIdHex, published);
            this.options.onPublished?.(published);
          }
          this.byIssuer = next;
          this.activeKeyId = issuers[0]?.keyIdHex;
          this.failedAt = undefined;
        } catch (e) {
          this.failedAt = Date.now();
          this.options.onError(e);
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
      this.schedule();
    })();
    return this.running;
  }

  /**
   * Re-signs at half the validity of the current intermediate CRL, so relying parties never see a stale one; after
   * a failed round, every few seconds until one succeeds.
   */
  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const crl = this.get('intermediate');
    const half = crl ? (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2 : 60_000;
    const due = this.failedAt !== undefined ? RETRY_MS : crl ? crl.thisUpdate.getTime() + half - Date.now() : 60_000;
    this.timer = setTimeout(() => void this.refresh(), Math.max(1_000, Math.min(due, 2 ** 31 - 1)));
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
