// Durations as people type them (`90s`, `15m`, `24h`, `7d`, `1h30m`) and as meshca prints them.

import { CaError } from '../errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/**
 * Parses a duration to whole seconds. Units: s, m, h, d, optionally combined largest first (`1d12h`).
 *
 * @example
 * parseDuration('24h') // 86400
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  const parts = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (s === '' || !parts || parts.slice(1).every((p) => p === undefined)) {
    throw new CaError('ERR_DURATION_INVALID', `config: "${text}" is not a duration (use e.g. 90s, 15m, 24h, 7d)`);
  }
  const [d, h, m, sec] = parts.slice(1).map((p) => (p === undefined ? 0 : Number(p)));
  const total = d! * UNIT_SECONDS.d + h! * UNIT_SECONDS.h + m! * UNIT_SECONDS.m + sec!;
  if (!Number.isSafeInteger(total) || total <= 0 || total > 100 * 365 * 86400) {
    throw new CaError('ERR_DURATION_INVALID', `config: duration "${text}" must be more than 0 and at most 100 years`);
  }
  return total;
}

/** Formats seconds compactly (`86400` → `24h`, `5400` → `1h30m`). */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const out: string[] = [];
  let rest = seconds;
  const days = Math.floor(rest / 86400);
  // Whole multiples of a day below a week read better in hours (24h, 72h) as people configure them.
  if (days >= 7 || (days > 0 && rest % 86400 !== 0)) {
    out.push(`${days}d`);
    rest -= days * 86400;
  }
  for (const [unit, size] of [['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out.push(`${n}${unit}`);
    rest -= n * size;
  }
  return out.join('');
}
