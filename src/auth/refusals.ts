// Refused requests, audited: one row per actor, action and reason per window (a second; longer under a flood), so no flood can outgrow the log.

import type { AuditEvent } from '../authority/ports.js';

/** Where aggregated rows go: one transaction per window. */
export interface RefusalSink {
  appendAuditBatch(events: readonly AuditEvent[]): Promise<void>;
}

/** Distinct (actor, action, reason) triples kept per window; the rest of that window is counted under `(others)`. */
export const MAX_PAIRS_PER_WINDOW = 32;
/** Longest window: under a sustained flood rows are written once a minute at most. */
export const MAX_WINDOW_SECONDS = 60;
/**
 * Rows written over the last minute past which the next window doubles, however the flood is shaped (a window
 * that stays just under {@link MAX_PAIRS_PER_WINDOW} would otherwise write a row per distinct actor every second).
 */
export const ROWS_PER_MINUTE = 64;
/** Remote addresses (and, for `(others)`, actors) kept as a sample per row. */
const SAMPLE = 4;

interface Bucket {
  readonly actor: string;
  readonly action: string;
  readonly code: string;
  readonly detail: Readonly<Record<string, unknown>> | undefined;
  count: number;
  readonly addresses: Set<string>;
  readonly actors: Set<string>;
}

/**
 * Collects refusals (refused authentication under the actor the request claimed; refused authorization and rate
 * limits under the authenticated actor) and writes one audit row per actor, action and reason per window, with how
 * many there were. A window is one second; when one fills up ({@link MAX_PAIRS_PER_WINDOW} triples: a flood of
 * made-up credentials) or the last minute saw {@link ROWS_PER_MINUTE} rows, the next is twice as long, up to a
 * minute, and it falls back to a second once a minute is quiet. So a sustained flood adds at most a few dozen rows
 * a minute for each reason, however many requests it sends and however it spreads them.
 *
 * @example
 * const refusals = new RefusalLog(store, (e) => logger.error({ err: e }));
 * refusals.record('claimed:apikey-id:0123456789abcdef', 'authenticate', 'ERR_APIKEY_INVALID', '10.1.2.3');
 */
export class RefusalLog {
  private start = 0;
  private seconds = 1;
  private buckets = new Map<string, Bucket>();
  /** Rows written per window over the last minute: [second the window was written, rows]. */
  private recent: [number, number][] = [];
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: RefusalSink,
    private readonly onError: (e: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => {
      if (this.elapsed()) this.write();
    }, 1000);
    this.timer.unref();
  }

  private second(): number {
    return Math.floor(this.now() / 1000);
  }

  private elapsed(): boolean {
    return this.second() >= this.start + this.seconds;
  }

  /** Counts one refusal of `actor` doing `action` for `code`; `detail` (of the first in the window) is kept. */
  record(actor: string, action: string, code: string, remoteAddress: string | undefined, detail?: Readonly<Record<string, unknown>>): void {
    if (this.buckets.size > 0 && this.elapsed()) this.write();
    if (this.buckets.size === 0) this.start = this.second();
    let key = `${actor}\u0000${action}\u0000${code}`;
    let bucket = this.buckets.get(key);
    if (!bucket && this.buckets.size >= MAX_PAIRS_PER_WINDOW) {
      key = `(others)\u0000${action}\u0000${code}`;
      bucket = this.buckets.get(key);
    }
    if (!bucket) {
      const others = key.startsWith('(others)\u0000');
      bucket = { actor: others ? '(others)' : actor, action, code, detail: others ? undefined : detail, count: 0, addresses: new Set(), actors: new Set() };
      this.buckets.set(key, bucket);
    }
    bucket.count++;
    if (remoteAddress !== undefined && bucket.addresses.size < SAMPLE) bucket.addresses.add(remoteAddress);
    if (bucket.actor === '(others)' && bucket.actors.size < SAMPLE) bucket.actors.add(actor);
  }

  /** Writes the window's rows (one transaction) and sizes the next window by how full this one was. */
  private write(): void {
    if (this.buckets.size === 0) return;
    const at = new Date(this.start * 1000);
    const flooded = this.buckets.size >= MAX_PAIRS_PER_WINDOW;
    const events: AuditEvent[] = [...this.buckets.values()].map((b) => ({
      at,
      actor: b.actor,
      action: b.action,
      target: null,
      outcome: 'refused',
      detail: {
        ...b.detail,
        code: b.code,
        count: b.count,
        remoteAddresses: [...b.addresses],
        ...(this.seconds > 1 ? { windowSeconds: this.seconds } : {}),
        ...(b.actor === '(others)' ? { actors: [...b.actors] } : {}),
      },
    }));
    this.buckets = new Map();
    const now = this.second();
    this.recent = this.recent.filter(([at]) => at > now - 60);
    this.recent.push([now, events.length]);
    const lastMinute = this.recent.reduce((n, [, rows]) => n + rows, 0);
    // Longer windows while the log is busy; back to a second once the last minute was quiet.
    if (flooded || lastMinute >= ROWS_PER_MINUTE) this.seconds = Math.min(MAX_WINDOW_SECONDS, this.seconds * 2);
    else if (lastMinute < ROWS_PER_MINUTE / 2) this.seconds = 1;
    // Writes run one after another, so rows keep their windows' order; a failed one (the database is down) is reported.
    this.writing = this.writing.then(() => this.sink.appendAuditBatch(events)).catch(this.onError);
  }

  /** Writes what is left, stops the timer, and resolves when every write has settled. */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.write();
    return this.writing;
  }
}
