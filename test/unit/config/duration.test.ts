import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['ok/seconds', '90s', 90],
    ['ok/minutes', '15m', 900],
    ['ok/hours', '24h', 86400],
    ['ok/days', '7d', 604800],
    ['ok/combined', '1h30m', 5400],
    ['ok/surrounding space', ' 2m ', 120],
  ])('%s', (_name, text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([
    ['fail/empty', ''],
    ['fail/no unit', '90'],
    ['fail/unknown unit', '3w'],
    ['fail/negative', '-5m'],
    ['fail/zero', '0s'],
    ['fail/fraction', '1.5h'],
    ['fail/wrong order', '30m1h'],
    ['fail/words', 'soon'],
    ['fail/too long', '99999d'],
  ])('%s', (_name, text) => {
    expect(() => parseDuration(text)).toThrow(expect.objectContaining({ code: 'ERR_DURATION_INVALID' }));
  });
});

describe('formatDuration', () => {
  it.each([
    [86400, '24h'],
    [5400, '1h30m'],
    [7 * 86400, '7d'],
    [90, '1m30s'],
  ])('%i → %s and back', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
    expect(parseDuration(text)).toBe(seconds);
  });
});
