// The CA service's own TLS certificate: issued by its CA under the reserved identity, renewed at two thirds of its life, replaced at once when revoked.

import type { Logger } from 'pino';
import type { Authority } from '../authority/authority.js';
import type { IssuedLeaf } from '../authority/issue.js';
import { generateKeyPair, privateKeyToPem, spkiOf } from '../crypto/keys.js';
import { toPem } from '../crypto/pem.js';

/** What a listener's secure context is built from. */
export interface ServiceTlsOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: string[];
}

/**
 * Holds the service's leaf (`spiffe://TD/meshca/ca`, with the listen host's names) and its key, which never
 * leaves this process. `install` receives every new credential, to swap it into the listener in place.
 */
export class ServiceCertificate {
  private leaf!: IssuedLeaf;
  private options!: ServiceTlsOptions;
  private timer: NodeJS.Timeout | undefined;
  private install: ((options: ServiceTlsOptions) => void) | undefined;
  private stopped = false;

  private constructor(
    private readonly authority: Authority,
    private readonly names: { dnsNames: string[]; ipAddresses: string[] },
    private readonly logger: Logger,
  ) {}

  /** Issues the first certificate. */
  static async issue(authority: Authority, names: { dnsNames: string[]; ipAddresses: string[] }, logger: Logger): Promise<ServiceCertificate> {
    const service = new ServiceCertificate(authority, names, logger);
    await service.issue();
    return service;
  }

  /** The current leaf's serial. */
  get serial(): string {
    return this.leaf.serial;
  }

  /** The current key and chain, for the listener. */
  get tlsOptions(): ServiceTlsOptions {
    return this.options;
  }

  /** From now on, hands every replacement to `install` and renews at two thirds of each leaf's life. */
  start(install: (options: ServiceTlsOptions) => void): void {
    this.install = install;
    this.schedule();
  }

  /** Replaces the leaf at once if `serials` (just revoked; null when too many to list) may include it. */
  async revoked(serials: readonly string[] | null, isRevoked: (serial: string) => Promise<boolean>): Promise<void> {
    if (serials !== null && !serials.includes(this.leaf.serial)) return;
    if (!(await isRevoked(this.leaf.serial))) return;
    this.logger.warn({ serial: this.leaf.serial }, 'the service certificate was revoked; replacing it now');
    await this.replace('revoked');
  }

  /** After an intermediate rotation: a certificate from the new intermediate, and every intermediate trusted for clients. */
  rotated(): Promise<void> {
    return this.replace('rotated');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async issue(): Promise<void> {
    const key = generateKeyPair('ec-p256').privateKey;
    this.leaf = await this.authority.issueCaServiceLeaf(spkiOf(key), this.names, { actor: 'system:serve' });
    this.options = {
      key: privateKeyToPem(key),
      cert: `${toPem('CERTIFICATE', this.leaf.der)}${this.authority.chainPem}`,
      ca: [this.authority.root.pem, ...this.authority.intermediates.map((i) => i.pem)],
    };
  }

  private async replace(why: 'renewed' | 'revoked' | 'rotated'): Promise<void> {
    if (this.stopped) return;
    const previous = this.leaf.serial;
    try {
      await this.issue();
    } catch (e) {
      this.logger.error({ err: e }, 'could not replace the service certificate; retrying in a minute');
      return this.schedule(60_000);
    }
    this.install?.(this.options);
    this.logger.info({ serial: this.leaf.serial, replaces: previous, why, notAfter: this.leaf.notAfter }, why === 'revoked' ? 'replaced the revoked service certificate' : why === 'rotated' ? 'reissued the service certificate from the new intermediate' : 'renewed the service certificate');
    this.schedule();
  }

  private schedule(inMs?: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const { notBefore, notAfter } = this.leaf;
    const due = inMs ?? notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3 - Date.now();
    this.timer = setTimeout(() => void this.replace('renewed'), Math.max(1000, Math.min(due, 2 ** 31 - 1)));
    this.timer.unref();
  }
}
