import { describe, expect, it } from 'vitest';
import { adviceMayApply, renewalMoment, renewalTime, retryDelayMs } from '../../../src/client/renewer.js';

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

  it('ok/a short certificate just received is renewed two thirds into what is left of it, not at once (no renewal storm)', () => {
    // A 15 s certificate, notBefore backdated a minute for clock skew, received at t.
    const t = new Date('2026-06-15T12:00:00Z');
    const notBefore = new Date(t.getTime() - 60_000);
    const notAfter = new Date(t.getTime() + 15_000);
    expect(renewalTime(notBefore, notAfter, () => 0.5).getTime()).toBeLessThan(t.getTime()); // without knowing when it came: at once
    expect(renewalTime(notBefore, notAfter, () => 0.5, t).getTime()).toBe(t.getTime() + 10_000);
    // A day-long certificate is hardly moved by it.
    expect(renewalTime(nb, na, () => 0.5, new Date(nb.getTime() + 60_000)).toISOString()).toBe('2026-06-15T16:00:20.000Z');
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

  it('CA outage: a fleet that lost its CA retries spread out, and every member is back within one retry interval', () => {
    // 2,000 services on 1-hour certificates all find the CA down within the same second (the worst case: a
    // fleet restarted together), and it stays down 20 minutes. Without jitter they would retry in lockstep.
    const life = 3600_000;
    const cap = retryDelayMs(99, life, () => 1); // the longest a service ever waits between attempts
    expect(cap).toBe(300_000);
    const outageEnd = 20 * 60_000;
    const backAt: number[] = [];
    const perSecond = new Map<number, number>();
    for (let s = 0; s < 2000; s++) {
      let t = Math.random() * 1000;
      let failures = 0;
      while (t < outageEnd) {
        failures++;
        t += retryDelayMs(failures, life);
        const second = Math.floor(t / 1000);
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      }
      backAt.push(t - outageEnd);
    }
    // Renewed within one retry interval of the CA's return.
    expect(Math.max(...backAt)).toBeLessThanOrEqual(cap);
    // No thundering herd: around the CA's return, no second carries more than 2% of the fleet's retries.
    const busiest = Math.max(...[...perSecond].filter(([sec]) => sec >= outageEnd / 1000 - 300).map(([, n]) => n));
    expect(busiest).toBeLessThan(2000 * 0.02);
  });
});

describe('renewal moment inside the window the CA suggests', () => {
  const leaf = { serial: 'aa', notBefore: new Date('2026-06-15T00:00:00Z'), notAfter: new Date('2026-06-16T00:00:00Z') };
  const info = { start: new Date('2026-06-15T16:00:00Z'), end: new Date('2026-06-15T20:00:00Z') };
  it('ok/drawn uniformly inside the window, and kept while the window and the certificate stay the same', () => {
    const first = renewalMoment(info, leaf, undefined, undefined, () => 0.25);
    expect(first.at.toISOString()).toBe('2026-06-15T17:00:00.000Z');
    expect(renewalMoment(info, leaf, first, undefined, () => 0.9)).toBe(first);
    // Another certificate given the same window (a rule made in the second it was signed) draws afresh.
    expect(renewalMoment(info, { ...leaf, serial: 'bb' }, first, undefined, () => 0.5).at.toISOString()).toBe('2026-06-15T18:00:00.000Z');
  });

  it('ok/a window that began before the certificate was received is not taken as "renew now" (its own two thirds apply)', () => {
    const receivedAt = new Date('2026-06-15T17:00:00Z');
    const m = renewalMoment(info, leaf, undefined, receivedAt, () => 0.5);
    expect(m.at.getTime()).toBeGreaterThan(receivedAt.getTime());
  });

  it.each<[string, Parameters<typeof adviceMayApply>[0]['selector'], boolean]>([
    ['ok/its serial', { kind: 'serial', serial: 'aa' }, true],
    ['ok/another serial', { kind: 'serial', serial: 'bb' }, false],
    ['ok/issued before a later time', { kind: 'issued-before', before: '2026-06-15T01:00:00Z' }, true],
    ['ok/issued before an earlier time', { kind: 'issued-before', before: '2026-06-14T00:00:00Z' }, false],
    ['ok/all', { kind: 'all' }, true],
    ['ok/an identity pattern (renewal-info decides)', { kind: 'identity', pattern: 'dns:x' }, true],
  ])('%s', (_n, selector, applies) => {
    expect(adviceMayApply({ adviceId: 1, selector, suggestedWindow: { start: '', end: '' } }, leaf)).toBe(applies);
  });
});
