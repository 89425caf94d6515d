// Keeps the published CRLs current: re-signed at once after a revocation and at half their validity regardless.

import type { CrlLevel, SignedCrl } from '../authority/authority.js';
import { toPem } from '../crypto/pem.js';

/** A CRL as served: DER, and the HTTP validators derived from it. */
export interface PublishedCrl extends SignedCrl {
  readonly etag: string;
}

export interface CrlPublisherOptions {
  readonly sign: (level: CrlLevel) => Promise<SignedCrl>;
  readonly onError: (e: unknown) => void;
  readonly onPublished?: (crl: PublishedCrl) => void;
}

/**
 * Holds the current CRL of each level. `refresh()` calls are coalesced: one regeneration runs at a time and a
 * request that arrives during it schedules exactly one more, so a burst of revocations costs two CRLs, not N.
 */
export class CrlPublisher {
  private readonly current = new Map<CrlLevel, PublishedCrl>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: CrlPublisherOptions) {}

  get(level: CrlLevel): PublishedCrl | undefined {
    return this.current.get(level);
  }

  /** Both levels as `X509 CRL` PEM, root first (what Node's tls `crl` option and `openssl -CRLfile` take). */
  pem(): string | undefined {
    const root = this.current.get('root');
    const intermediate = this.current.get('intermediate');
    return root && intermediate ? `${toPem('X509 CRL', root.der)}${toPem('X509 CRL', intermediate.der)}` : undefined;
  }

  /** Re-signs both CRLs (coalesced); resolves when a regeneration that started after this call has finished. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running ?? undefined);
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          for (const level of ['root', 'intermediate'] as const) {
            const signed = await this.options.sign(level);
            const published = { ...signed, etag: `"${level}-${signed.number}"` };
            this.current.set(level, published);
            this.options.onPublished?.(published);
          }
        } catch (e) {
          this.options.onError(e);
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
      this.schedule();
    })();
    return this.running;
  }

  /** Re-signs at half the validity of the current intermediate CRL, so relying parties never see a stale one. */
  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const crl = this.current.get('intermediate');
    const half = crl ? (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2 : 60_000;
    const due = crl ? crl.thisUpdate.getTime() + half - Date.now() : 60_000;
    this.timer = setTimeout(() => void this.refresh(), Math.max(1_000, Math.min(due, 2 ** 31 - 1)));
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
