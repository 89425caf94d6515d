// The refusal log stays small however a flood is shaped: many actors at once, or just under the per-window cap for ever.

import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/authority/ports.js';
import { MAX_PAIRS_PER_WINDOW, RefusalLog } from '../../../src/auth/refusals.js';

async function flood(perSecond: number, seconds: number): Promise<{ rows: AuditEvent[]; counted: number }> {
  const rows: AuditEvent[] = [];
  let now = 1_000_000_000_000;
  const log = new RefusalLog({ appendAuditBatch: async (events) => void rows.push(...events) }, (e) => { throw e; }, () => now);
  let n = 0;
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < perSecond; i++) log.record(`claimed:apikey-id:${(n++).toString(16)}`, 'authenticate', 'ERR_APIKEY_INVALID', '10.0.0.1');
    now += 1000;
  }
  await log.close();
  return { rows, counted: rows.reduce((sum, r) => sum + (r.detail!.count as number), 0) };
}

describe('RefusalLog', () => {
  it(`fail/${MAX_PAIRS_PER_WINDOW - 1} new actors a second for ten minutes (just under the per-window cap) write at most ~100 rows a minute, every refusal counted`, async () => {
    const { rows, counted } = await flood(MAX_PAIRS_PER_WINDOW - 1, 600);
    expect(counted).toBe((MAX_PAIRS_PER_WINDOW - 1) * 600);
    expect(rows.length).toBeLessThanOrEqual(10 * 100);
  });

  it('fail/a thousand new actors a second write at most ~33 rows a minute once the windows have grown', async () => {
    const { rows, counted } = await flood(1000, 600);
    expect(counted).toBe(600_000);
    expect(rows.length).toBeLessThanOrEqual(10 * 40 + 6 * 33);
  });

  it('ok/a quiet caller gets a row per second, with its exact count', async () => {
    const { rows } = await flood(3, 5);
    expect(rows.map((r) => r.detail!.count)).toEqual(Array(15).fill(1));
  });
});
