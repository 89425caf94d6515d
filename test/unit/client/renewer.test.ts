import { describe, expect, it } from 'vitest';
import { renewalTime, retryDelayMs } from '../../../src/client/renewer.js';

describe('renewal schedule', () => {
  const nb = new Date('2026-06-15T00:00:00Z');
  const na = new Date('2026-06-16T00:00:00Z');
  it.each([
    [0.5, '2026-06-15T16:00:00.000Z'],
    [0, '2026-06-15T14:48:00.000Z'],
    [1, '2026-06-15T17:12:00.000Z'],
  ])('random %d → %s (two thirds ± 5%% of the lifetime)', (r, iso) => {
    expect(renewalTime(nb, na, () => r).toISOString()).toBe(iso);
  });

  it('retries back off exponentially, capped, and spread by jitter', () => {
    const day = 86400_000;
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, day, () => 1))).toEqual([2000, 4000, 8000, 16000]);
    expect(retryDelayMs(30, day, () => 1)).toBe(5 * 60_000);
    expect(retryDelayMs(30, 120_000, () => 1)).toBe(12_000);
    expect(retryDelayMs(3, day, () => 0)).toBe(4000);
    const spread = new Set(Array.from({ length: 50 }, () => retryDelayMs(5, day)));
    expect(spread.size).toBeGreaterThan(40);
  });
});
