// The audit log's hash chain: how a row's hash is computed, and the walk that finds an edited, deleted or reordered row.

import { createHash } from 'node:crypto';

/** The hash the first row links to. */
export const GENESIS = Buffer.alloc(32);

/** A stored audit row as the chain sees it: exactly the stored columns. */
export interface ChainedRow {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: string;
  readonly detail: string | null;
  readonly prev_hash: Buffer | null;
  readonly hash: Buffer | null;
}

/** SHA-256 over the previous row's hash and this row's stored content (the id is not hashed: the links order the rows). */
export function rowHash(prev: Buffer, row: Pick<ChainedRow, 'at' | 'actor' | 'action' | 'target' | 'outcome' | 'detail'>): Buffer {
  return createHash('sha256').update(prev).update(JSON.stringify([row.at, row.actor, row.action, row.target, row.outcome, row.detail])).digest();
}

/** What a walk of the chain found. */
export type ChainVerdict =
  | { readonly ok: true; readonly rows: number; readonly head: string }
  | { readonly ok: false; readonly rows: number; readonly rowId: number; readonly problem: 'edited' | 'unlinked' | 'unsealed'; readonly message: string };

/**
 * Walks rows in id order. A row whose content no longer matches its hash was edited; a row whose `prev_hash`
 * is not the hash of the row before it follows a deleted, inserted or reordered row. Removing rows from the
 * end leaves a valid shorter chain: compare the reported head with one recorded elsewhere to catch that.
 */
export function verifyChain(rows: Iterable<ChainedRow>): ChainVerdict {
  let prev: Buffer = GENESIS;
  let count = 0;
  let previousId: number | null = null;
  for (const row of rows) {
    count++;
    if (row.hash === null || row.prev_hash === null) {
      return { ok: false, rows: count, rowId: row.id, problem: 'unsealed', message: `audit row ${row.id} carries no hash (written outside meshca)` };
    }
    if (!Buffer.from(row.prev_hash).equals(prev)) {
      const after = previousId === null ? 'the start of the log' : `row ${previousId}`;
      return { ok: false, rows: count, rowId: row.id, problem: 'unlinked', message: `audit row ${row.id} does not follow ${after}: a row was deleted, inserted or reordered` };
    }
    const expected = rowHash(prev, row);
    if (!Buffer.from(row.hash).equals(expected)) {
      return { ok: false, rows: count, rowId: row.id, problem: 'edited', message: `audit row ${row.id} was edited after it was written` };
    }
    prev = expected;
    previousId = row.id;
  }
  return { ok: true, rows: count, head: prev.toString('hex') };
}
