// Group commit: issuances that arrive together are recorded in one durable transaction, each answered only after it.

import type { CertificateStore, IssuedEntry, IssuedOutcome } from './ports.js';

/** Entries recorded per transaction at most; a larger backlog is written in several. */
const MAX_BATCH = 512;

/**
 * Collects issuances from concurrent requests and writes them with one `recordIssuedBatch` (one fsync) at a time:
 * what arrives while a transaction is in flight goes into the next one. Durability is unchanged: a caller's
 * promise settles only after the transaction holding its row has committed, or rejects with the store's error
 * when it did not.
 */
export class GroupCommit {
  private pending: { entry: IssuedEntry; resolve: (o: IssuedOutcome) => void; reject: (e: unknown) => void }[] = [];
  /** True from the first queued entry until the queue is empty again (a flush is scheduled or running). */
  private scheduled = false;
  /** Transactions written and entries they held, for metrics and tests. */
  readonly stats = { transactions: 0, entries: 0 };

  constructor(private readonly store: Pick<CertificateStore, 'recordIssuedBatch'>) {}

  /** Queues `entry` and resolves with its outcome once its transaction has committed. */
  record(entry: IssuedEntry): Promise<IssuedOutcome> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      let outcomes: IssuedOutcome[];
      try {
        outcomes = await this.store.recordIssuedBatch(batch.map((p) => p.entry));
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      this.stats.transactions++;
      this.stats.entries += batch.length;
      batch.forEach((p, i) => p.resolve(outcomes[i]!));
    }
    this.scheduled = false;
  }
}
