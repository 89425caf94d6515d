// The audit log's keyed chain: how a row is sealed (HMAC over its id, content and predecessor), and the walk that finds an edited, missing or reordered row.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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

type Content = Pick<ChainedRow, 'id' | 'at' | 'actor' | 'action' | 'target' | 'outcome' | 'detail'>;

/**
 * HMAC-SHA256, keyed with the audit seal key (which lives in `private/`, not in the database), over the previous
 * row's seal, this row's id and its stored content. Without the key, an edited, renumbered or inserted row
 * cannot be sealed again, however well the scheme is known.
 */
export function sealRow(key: Buffer, prev: Buffer, row: Content): Buffer {
  return createHmac('sha256', key).update(prev).update(JSON.stringify([row.id, row.at, row.actor, row.action, row.target, row.outcome, row.detail])).digest();
}

/** The unkeyed SHA-256 chain of migration 005, read once when a database is first sealed with a key. */
export function legacyRowHash(prev: Buffer, row: Omit<Content, 'id'>): Buffer {
  return createHash('sha256').update(prev).update(JSON.stringify([row.at, row.actor, row.action, row.target, row.outcome, row.detail])).digest();
}

/** What a walk of the chain found. */
export type ChainVerdict =
  | { readonly ok: true; readonly rows: number; readonly head: string; readonly lastId: number }
  | { readonly ok: false; readonly rows: number; readonly rowId: number; readonly problem: 'edited' | 'unlinked' | 'missing' | 'unsealed'; readonly message: string };

const same = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/**
 * Walks rows in id order (read all at once, or page by page). Ids run from 1 without gaps (the id counter never goes
 * back, so a deleted row leaves a hole even at the end once another row is written); a row whose seal does not match was edited;
 * a row whose `prev_hash` is not its predecessor's seal follows a reordered or inserted row. Rows cut from the
 * end, with the id counter reset, leave a valid shorter chain: compare with a published head to catch that.
 */
export async function verifyChain(rows: Iterable<ChainedRow> | AsyncIterable<ChainedRow>, key: Buffer): Promise<ChainVerdict> {
  let prev: Buffer = GENESIS;
  let count = 0;
  let previousId = 0;
  for await (const row of rows) {
    count++;
    if (row.id !== previousId + 1) {
      const gap = row.id - previousId - 1 === 1 ? `audit row ${previousId + 1} is missing` : `audit rows ${previousId + 1}-${row.id - 1} are missing`;
      return { ok: false, rows: count, rowId: row.id, problem: 'missing', message: `${gap}: deleted from the log` };
    }
    if (row.hash === null || row.prev_hash === null) {
      return { ok: false, rows: count, rowId: row.id, problem: 'unsealed', message: `audit row ${row.id} carries no seal (written outside meshca)` };
    }
    if (!same(Buffer.from(row.prev_hash), prev)) {
      const after = previousId === 0 ? 'the start of the log' : `row ${previousId}`;
      return { ok: false, rows: count, rowId: row.id, problem: 'unlinked', message: `audit row ${row.id} does not follow ${after}: a row was inserted or reordered` };
    }
    const expected = sealRow(key, prev, row);
    if (!same(Buffer.from(row.hash), expected)) {
      return { ok: false, rows: count, rowId: row.id, problem: 'edited', message: `audit row ${row.id} was edited after it was written (or sealed with another key)` };
    }
    prev = expected;
    previousId = row.id;
  }
  return { ok: true, rows: count, head: prev.toString('hex'), lastId: previousId };
}

/**
 * A verified chain checked against the store's audit id counter, which only grows: when the counter is ahead of the
 * last row, rows were deleted from the end (or never written, by a trigger that swallowed them).
 */
export function chainReachesCounter(verdict: ChainVerdict, counter: number): ChainVerdict {
  if (!verdict.ok || counter <= verdict.lastId) return verdict;
  const first = verdict.lastId + 1;
  const gap = counter === first ? `audit row ${first} is missing` : `audit rows ${first}-${counter} are missing`;
  return { ok: false, rows: verdict.rows, rowId: first, problem: 'missing', message: `${gap} at the end of the log (the id counter is at ${counter}): deleted from the log` };
}

/** The first problem in an unkeyed (migration 005) chain, or null when it is intact. */
export function legacyChainProblem(rows: Iterable<ChainedRow>): string | null {
  let prev: Buffer = GENESIS;
  for (const row of rows) {
    if (row.hash === null || row.prev_hash === null) return `row ${row.id} carries no hash`;
    if (!Buffer.from(row.prev_hash).equals(prev)) return `row ${row.id} does not follow its predecessor`;
    const expected = legacyRowHash(prev, row);
    if (!Buffer.from(row.hash).equals(expected)) return `row ${row.id} was edited`;
    prev = expected;
  }
  return null;
}
