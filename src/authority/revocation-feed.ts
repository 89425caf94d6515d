// The revocation feed: revocations and renewal advice as ordered events with resume positions, fanned out to subscribers.

import type { RenewalAdvice } from './renewal-advice.js';
import type { RevocationEvent } from './ports.js';

/** Where a subscriber is in the two logs the feed follows: the revocation log's seq and the renewal advice's id. */
export interface FeedPosition {
  readonly revocation: number;
  readonly advice: number;
}

/** The position as an event id (`Last-Event-ID`): `<revocation seq>.<advice id>`. */
export function formatPosition(p: FeedPosition): string {
  return `${p.revocation}.${p.advice}`;
}

/** Reads an event id back; undefined for anything that is not one. */
export function parsePosition(text: string): FeedPosition | undefined {
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(text.trim());
  return m ? { revocation: Number(m[1]), advice: Number(m[2]) } : undefined;
}

/** One event of the feed. A revocation carries the issuer's signed statement (an OCSP response) when one could be signed. */
export type FeedEvent =
  | { readonly kind: 'revoked'; readonly position: FeedPosition; readonly revocation: RevocationEvent; readonly statement: Buffer | undefined }
  | { readonly kind: 'renew'; readonly position: FeedPosition; readonly advice: RenewalAdvice }
  /** The subscriber is further behind than the feed replays: it must refetch the CRLs, which list everything. */
  | { readonly kind: 'resync'; readonly position: FeedPosition }
  /** Sent first, and every heartbeat interval: where the feed is, and what `heartbeat()` says (the CRL numbers). */
  | { readonly kind: 'heartbeat'; readonly position: FeedPosition; readonly status: Readonly<Record<string, unknown>> };

/** Where a subscriber's events go. `send` returns false when the subscriber is too far behind to keep. */
export interface FeedSink {
  send(event: FeedEvent): boolean;
  /** Resolves once what was sent has gone out: a replay from the store waits for it between pages. */
  drained?(): Promise<void>;
  close(): void;
}

/** What the feed reads: the two logs, in order (declared here, implemented by the stores). */
export interface FeedSource {
  revocationEvents(afterSeq: number, limit: number): Promise<RevocationEvent[]>;
  renewalAdviceSince(afterId: number, limit: number): Promise<RenewalAdvice[]>;
}

export interface RevocationFeedOptions {
  readonly source: FeedSource;
  /** The issuer's signed statement about a revocation (undefined when no signer of its issuer is here). */
  readonly statement: (revocation: RevocationEvent) => Buffer | undefined;
  /** What each heartbeat says besides the position (the current CRL numbers). */
  readonly heartbeat: () => Readonly<Record<string, unknown>>;
  readonly heartbeatMs?: number;
  /** How long events stay in memory for subscribers that reconnect (older ones are read from the store). */
  readonly recentMs?: number;
  /** A subscriber further behind than this many revocations gets `resync` instead of a replay. */
  readonly maxReplay?: number;
  readonly now?: () => number;
}

const PAGE = 1000;

interface Subscriber {
  readonly sink: FeedSink;
  position: FeedPosition;
  /** Live events that arrived while it was catching up, sent once it has. */
  pending: FeedEvent[] | undefined;
}

const after = (e: FeedEvent, p: FeedPosition): boolean => (e.kind === 'revoked' ? e.position.revocation > p.revocation : e.kind === 'renew' ? e.position.advice > p.advice : false);

/**
 * Follows the revocation log and the renewal advice of a CA's store and sends every new entry to every subscriber
 * once, in order. A subscriber that names where it was (its last event id) first gets what it missed: from memory
 * when recent, else from the store, else (too far behind) `resync`. Shared by every subscriber: an event is read
 * and signed once, however many listen.
 */
export class RevocationFeed {
  private head: FeedPosition = { revocation: 0, advice: 0 };
  /** Events kept for reconnecting subscribers, oldest first; every event after `floor` is here. */
  private recent: { event: FeedEvent; at: number }[] = [];
  private floor: FeedPosition = { revocation: 0, advice: 0 };
  private readonly subscribers = new Set<Subscriber>();
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: RevocationFeedOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Starts at the end of both logs (`revocationSeq` is where the service's own watch is) and begins the heartbeat. */
  async start(revocationSeq: number): Promise<void> {
    let advice = 0;
    for (let page = await this.o.source.renewalAdviceSince(0, PAGE); page.length > 0; page = await this.o.source.renewalAdviceSince(advice, PAGE)) advice = page[page.length - 1]!.id;
    this.head = { revocation: revocationSeq, advice };
    this.floor = this.head;
    this.timer = setInterval(() => this.beat(), this.o.heartbeatMs ?? 5_000);
    this.timer.unref();
  }

  /** Where the feed is. */
  get position(): FeedPosition {
    return this.head;
  }

  /** How many subscribers are connected. */
  get size(): number {
    return this.subscribers.size;
  }

  /** Reads what is new in both logs and sends it; calls made while one runs are folded into one more run. */
  poll(): Promise<void> {
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = (async () => {
      try {
        do {
          this.pollAgain = false;
          await this.readNew();
        } while (this.pollAgain);
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  private async readNew(): Promise<void> {
    for (;;) {
      const page = await this.o.source.revocationEvents(this.head.revocation, PAGE);
      for (const revocation of page) {
        this.head = { ...this.head, revocation: revocation.seq };
        this.publish({ kind: 'revoked', position: this.head, revocation, statement: this.o.statement(revocation) });
      }
      if (page.length < PAGE) break;
    }
    for (;;) {
      const page = await this.o.source.renewalAdviceSince(this.head.advice, PAGE);
      for (const advice of page) {
        this.head = { ...this.head, advice: advice.id };
        this.publish({ kind: 'renew', position: this.head, advice });
      }
      if (page.length < PAGE) break;
    }
    this.trim();
  }

  private publish(event: FeedEvent): void {
    this.recent.push({ event, at: this.now() });
    for (const s of this.subscribers) {
      if (s.pending) s.pending.push(event);
      else this.deliver(s, event);
    }
  }

  private deliver(s: Subscriber, event: FeedEvent): void {
    if (event.kind === 'revoked' || event.kind === 'renew') {
      if (!after(event, s.position)) return;
      s.position = { revocation: Math.max(s.position.revocation, event.position.revocation), advice: Math.max(s.position.advice, event.position.advice) };
    }
    if (!s.sink.send(event)) this.drop(s);
  }

  private drop(s: Subscriber): void {
    if (!this.subscribers.delete(s)) return;
    s.sink.close();
  }

  /** Forgets events older than `recentMs` (their statements would soon be stale): the store has them. */
  private trim(): void {
    const cutoff = this.now() - (this.o.recentMs ?? 20 * 60_000);
    let n = 0;
    while (n < this.recent.length && (this.recent[n]!.at < cutoff || this.recent.length - n > 50_000)) n++;
    if (n === 0) return;
    this.floor = this.recent[n - 1]!.event.position;
    this.recent = this.recent.slice(n);
  }

  private beat(): void {
    this.trim();
    const event: FeedEvent = { kind: 'heartbeat', position: this.head, status: this.o.heartbeat() };
    for (const s of this.subscribers) if (!s.pending && !s.sink.send({ ...event, position: s.position })) this.drop(s);
  }

  /**
   * Adds a subscriber. Without `from` it starts at the feed's head; with it, it first gets every event after
   * `from`. A position ahead of the feed (another CA's, or a database restored from a backup) gets `resync`.
   * Returns what unsubscribes.
   */
  subscribe(sink: FeedSink, from?: FeedPosition): () => void {
    const s: Subscriber = { sink, position: from ?? this.head, pending: [] };
    this.subscribers.add(s);
    void this.catchUp(s, from).catch(() => this.drop(s));
    return () => this.drop(s);
  }

  private async catchUp(s: Subscriber, from: FeedPosition | undefined): Promise<void> {
    const send = (event: FeedEvent): boolean => {
      if (!this.subscribers.has(s)) return false;
      if (s.sink.send(event)) return true;
      this.drop(s);
      return false;
    };
    const head = this.head;
    const ahead = from !== undefined && (from.revocation > head.revocation || from.advice > head.advice);
    const tooFar = from !== undefined && head.revocation - from.revocation > (this.o.maxReplay ?? 10_000);
    if (from === undefined || ahead || tooFar) {
      s.position = ahead || tooFar ? { ...this.floor } : head;
      if (ahead || tooFar) {
        if (!send({ kind: 'resync', position: head })) return;
        s.position = head;
      }
    } else if (from.revocation < this.floor.revocation || from.advice < this.floor.advice) {
      // Older than memory: the store's entries up to the floor, then memory's.
      const floor = this.floor;
      for (let seq = from.revocation; seq < floor.revocation; ) {
        const page = await this.o.source.revocationEvents(seq, PAGE);
        for (const revocation of page) {
          if (revocation.seq > floor.revocation) break;
          seq = revocation.seq;
          s.position = { ...s.position, revocation: seq };
          if (!send({ kind: 'revoked', position: s.position, revocation, statement: this.o.statement(revocation) })) return;
        }
        await s.sink.drained?.();
        if (page.length < PAGE) break;
      }
      for (let id = from.advice; id < floor.advice; ) {
        const page = await this.o.source.renewalAdviceSince(id, PAGE);
        for (const advice of page) {
          if (advice.id > floor.advice) break;
          id = advice.id;
          s.position = { ...s.position, advice: id };
          if (!send({ kind: 'renew', position: s.position, advice })) return;
        }
        if (page.length < PAGE) break;
      }
      s.position = { revocation: Math.max(s.position.revocation, floor.revocation), advice: Math.max(s.position.advice, floor.advice) };
    }
    if (!this.subscribers.has(s)) return;
    // Memory's events after its position, then what arrived meanwhile, then live.
    const queued = s.pending ?? [];
    s.pending = undefined;
    const seen = new Set<FeedEvent>();
    for (const { event } of this.recent) {
      seen.add(event);
      this.deliver(s, event);
    }
    for (const event of queued) if (!seen.has(event)) this.deliver(s, event);
    if (this.subscribers.has(s)) send({ kind: 'heartbeat', position: s.position, status: this.o.heartbeat() });
  }

  /** Closes every subscription and stops the heartbeat. */
  stop(): void {
    clearInterval(this.timer);
    for (const s of [...this.subscribers]) this.drop(s);
  }
}
