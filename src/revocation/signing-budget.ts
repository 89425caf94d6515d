// How many OCSP responses each client may have signed on the fly (nonces, cache misses): a token bucket per address, bounded in memory.

/** Addresses tracked at once; the least recently seen is forgotten first (it then starts with a full bucket). */
const MAX_CLIENTS = 10_000;

/**
 * A token bucket per client address: `perSecond` signatures a second, bursts up to `burst`. A `perSecond` of 0
 * means unlimited. Unauthenticated requests cost an ECDSA signature each; this keeps one client from spending
 * the responder's CPU.
 *
 * @example
 * const budget = new SigningBudget(200);
 * if (!budget.take('10.1.2.3')) answerFromCacheOrTryLater();
 */
export class SigningBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number = perSecond * 2,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends one signature for `client`; false when its bucket is empty. */
  take(client: string | undefined): boolean {
    if (this.perSecond <= 0) return true;
    const key = client ?? '?';
    const now = this.now();
    const found = this.buckets.get(key);
    const bucket = found ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (!found && this.buckets.size > MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
