// Reading JSON request bodies into typed requests, refusing wrong types and unknown fields with a clear message.

import { CaError } from '../errors.js';

function fail(message: string): never {
  throw new CaError('ERR_BODY_INVALID', `api: ${message}`);
}

/** A JSON object body, or `{}` when `optional` and nothing was sent. */
export function objectBody(body: unknown, allowed: readonly string[], optional = false): Record<string, unknown> {
  if (body === undefined && optional) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail('expected a JSON object body (Content-Type: application/json)');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) fail(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${allowed.join(', ')})`);
  return body as Record<string, unknown>;
}

export function optionalString(o: Record<string, unknown>, key: string, maxLength = 4096): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`"${key}" must be a string`);
  if (v.length > maxLength) fail(`"${key}" is longer than ${maxLength} characters`);
  return v;
}

export function requiredString(o: Record<string, unknown>, key: string, maxLength = 4096): string {
  const v = optionalString(o, key, maxLength);
  if (v === undefined) fail(`"${key}" is required`);
  return v;
}

export function stringArray(o: Record<string, unknown>, key: string, maxItems = 100): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length > 253)) fail(`"${key}" must be an array of strings`);
  if (v.length > maxItems) fail(`"${key}" may hold at most ${maxItems} entries`);
  return v as string[];
}
