// How many OCSP responses each client may have signed on the fly (nonces, cache misses): a token bucket per address, bounded in memory.

/** Clients tracked at once; the least recently seen is forgotten first (it then starts with a full bucket, which the shared one still bounds). */
const MAX_CLIENTS = 10_000;

/** The bucket a client address draws from: an IPv6 address's /64 (one host's usual share), else the address. */
export function clientOf(address: string | undefined): string {
  if (address === undefined) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const groups = head === '' ? [] : head.split(':');
  if (tail !== undefined) while (groups.length < 4) groups.push('0');
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/**
 * Token buckets for responses signed on the fly: `perSecond` a second per client (an IPv4 address, or an IPv6
 * /64), bursts up to twice that, and ten times `perSecond` for all clients together, so neither one client nor a
 * swarm of addresses can spend the responder's CPU. A `perSecond` of 0 means unlimited.
 *
 * @example
 * const budget = new SigningBudget(200);
 * if (!budget.take('10.1.2.3')) answerFromCacheOrTryLater();
 */
export class SigningBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly all: { tokens: number; at: number };

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.all = { tokens: perSecond * 20, at: now() };
  }

  private refill(bucket: { tokens: number; at: number }, rate: number, burst: number, now: number): void {
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
  }

  /** Spends one signature for the client at `address`; false when its bucket, or everyone's, is empty. */
  take(address: string | undefined): boolean {
    if (this.perSecond <= 0) return true;
    const key = clientOf(address);
    const now = this.now();
    const found = this.buckets.get(key);
    const bucket = found ?? { tokens: this.perSecond * 2, at: now };
    this.refill(bucket, this.perSecond, this.perSecond * 2, now);
    this.refill(this.all, this.perSecond * 10, this.perSecond * 20, now);
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (!found && this.buckets.size > MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens < 1 || this.all.tokens < 1) return false;
    bucket.tokens -= 1;
    this.all.tokens -= 1;
    return true;
  }
}
