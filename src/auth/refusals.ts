// Refused authentications, audited: one row per claimed actor and reason per second, so a flood cannot grow the log without bound.

import type { AuditEvent } from '../authority/ports.js';

/** Where aggregated rows go: one transaction per flush. */
export interface RefusalSink {
  appendAuditBatch(events: readonly AuditEvent[]): void;
}

/** Distinct (actor, reason) pairs kept per second; the rest of that second is counted under `(others)`. */
export const MAX_PAIRS_PER_SECOND = 32;
/** Remote addresses (and, for `(others)`, actors) kept as a sample per row. */
const SAMPLE = 4;

interface Bucket {
  readonly actor: string;
  readonly code: string;
  count: number;
  readonly addresses: Set<string>;
  readonly actors: Set<string>;
}

/**
 * Collects refused authentications (unknown, expired or revoked keys, wrong secrets, bad tokens, foreign or
 * revoked certificates, rate-limit refusals) and writes, once a second, one audit row per claimed actor and
 * reason with how many there were: at most {@link MAX_PAIRS_PER_SECOND} + 1 rows a second, however many requests.
 *
 * @example
 * const refusals = new RefusalLog(store, (e) => logger.error({ err: e }));
 * refusals.record('apikey-id:0123456789abcdef', 'ERR_APIKEY_INVALID', '10.1.2.3');
 */
export class RefusalLog {
  private second = 0;
  private buckets = new Map<string, Bucket>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sink: RefusalSink,
    private readonly onError: (e: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => {
      if (Math.floor(this.now() / 1000) !== this.second) this.write();
    }, 1000);
    this.timer.unref();
  }

  /** Counts one refusal of `claimedActor` (who the request said it was) for `code`. */
  record(claimedActor: string, code: string, remoteAddress: string | undefined): void {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) {
      this.write();
      this.second = second;
    }
    let key = `${claimedActor}\u0000${code}`;
    let bucket = this.buckets.get(key);
    if (!bucket && this.buckets.size >= MAX_PAIRS_PER_SECOND) {
      key = `(others)\u0000${code}`;
      bucket = this.buckets.get(key);
    }
    if (!bucket) {
      bucket = { actor: key.startsWith('(others)\u0000') ? '(others)' : claimedActor, code, count: 0, addresses: new Set(), actors: new Set() };
      this.buckets.set(key, bucket);
    }
    bucket.count++;
    if (remoteAddress !== undefined && bucket.addresses.size < SAMPLE) bucket.addresses.add(remoteAddress);
    if (bucket.actor === '(others)' && bucket.actors.size < SAMPLE) bucket.actors.add(claimedActor);
  }

  /** Writes the current second's rows (one transaction) and starts afresh. */
  private write(): void {
    if (this.buckets.size === 0) return;
    const at = new Date(this.second * 1000);
    const events: AuditEvent[] = [...this.buckets.values()].map((b) => ({
      at,
      actor: b.actor,
      action: 'authenticate',
      target: null,
      outcome: 'refused',
      detail: { code: b.code, count: b.count, remoteAddresses: [...b.addresses], ...(b.actor === '(others)' ? { actors: [...b.actors] } : {}) },
    }));
    this.buckets = new Map();
    try {
      this.sink.appendAuditBatch(events);
    } catch (e) {
      this.onError(e);
    }
  }

  /** Writes what is left and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.write();
  }
}
