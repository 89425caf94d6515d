// Query parameters as the API reads them: given once, of the expected form, or a 400 that says which.

import { CaError } from '../errors.js';

/** A query parameter's text, or undefined when absent; given twice is refused. */
export function queryString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new CaError('ERR_QUERY_INVALID', `api: query parameter "${name}" must be given once`);
  return value;
}

/** A whole-number query parameter in `min..max` (plain decimal digits), or `fallback` when absent. */
export function queryInteger(value: unknown, name: string, min: number, max: number, fallback: number): number {
  const text = queryString(value, name);
  if (text === undefined) return fallback;
  const n = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new CaError('ERR_QUERY_INVALID', `api: "${name}" must be a whole number from ${min} to ${max}`);
  return n;
}
