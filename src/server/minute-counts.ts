// Events per minute over the last hour, in memory: what the dashboard draws (Prometheus keeps the long history).

const MINUTES = 60;

/** A ring of 60 one-minute buckets; counts older than an hour fall out as the clock moves. */
export class MinuteCounts {
  private readonly buckets = new Array<number>(MINUTES).fill(0);
  private minute: number;

  constructor(private readonly now: () => number = Date.now) {
    this.minute = Math.floor(now() / 60_000);
  }

  add(n = 1): void {
    this.advance();
    this.buckets[this.minute % MINUTES]! += n;
  }

  /** The last 60 minutes, oldest first; the last is the minute under way. */
  lastHour(): number[] {
    this.advance();
    return Array.from({ length: MINUTES }, (_, i) => this.buckets[(this.minute + 1 + i) % MINUTES]!);
  }

  private advance(): void {
    const current = Math.floor(this.now() / 60_000);
    for (let m = this.minute + 1; m <= Math.min(current, this.minute + MINUTES); m++) this.buckets[m % MINUTES] = 0;
    this.minute = Math.max(this.minute, current);
  }
}
