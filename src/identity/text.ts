// Free text people type (certificate, CA and token names): refused when it holds control or bidi characters, escaped when shown.

import { CaError } from '../errors.js';

/**
 * Characters that rewrite what a terminal or a reader shows: C0 and C1 controls, DEL, and the Unicode bidi
 * embeddings, overrides, isolates and marks (a "Trojan Source" name reads differently from what it is).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

/** True when `text` holds no control or bidi character. */
export function isPlainText(text: string): boolean {
  return !UNSAFE.test(text);
}

/**
 * Returns `text` when it is 1-`maxLength` characters of plain text; otherwise throws `ERR_NAME_INVALID` naming `what`.
 *
 * @example
 * plainText('api', 'the certificate name', 64) // 'api'
 */
export function plainText(text: string, what: string, maxLength: number): string {
  if (text.length === 0 || text.length > maxLength) throw new CaError('ERR_NAME_INVALID', `identity: ${what} must be 1-${maxLength} characters`);
  if (!isPlainText(text)) throw new CaError('ERR_NAME_INVALID', `identity: ${what} holds control or bidi characters, which are refused`);
  return text;
}

/** `text` with every control or bidi character shown as `\u{…}`, except the newlines and tabs listed in `keep`. */
export function escapeUnsafe(text: string, keep: readonly string[] = []): string {
  return text.replace(UNSAFE_ALL, (c) => (keep.includes(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}

/**
 * JSON text with DEL, C1 controls and bidi characters written as `\uXXXX` escapes (same value, safe to show raw).
 * C0 controls inside strings are already escaped by JSON.stringify; outside them they are its own line breaks.
 */
export function escapeUnsafeJson(json: string): string {
  return json.replace(UNSAFE_ALL, (c) => (c < '\u0020' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
