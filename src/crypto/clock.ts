// Time as meshca sees it: an injected clock, and every date truncated to whole seconds before it is encoded.

/** The source of "now"; injected so tests can freeze it. */
export interface Clock {
  now(): Date;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that always says `at` (tests). */
export function fixedClock(at: Date): Clock {
  const t = wholeSeconds(at);
  return { now: () => new Date(t) };
}

/** Drops milliseconds: X.509 times carry whole seconds, and a stored date must equal the encoded one. */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** `d` plus `seconds`. */
export function addSeconds(d: Date, seconds: number): Date {
  return new Date(d.getTime() + seconds * 1000);
}
