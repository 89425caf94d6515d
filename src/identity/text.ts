// Free text people type (certificate, CA and token names): refused when it holds control or bidi characters, escaped when shown.

import { CaError } from '../errors.js';

/**
 * Characters that change what a terminal or a reader shows rather than being shown: controls (C0, C1, DEL),
 * format characters (bidi embeddings, overrides, isolates and marks, zero-width characters, the soft hyphen,
 * the byte-order mark), line and paragraph separators, and lone surrogates. A "Trojan Source" name reads
 * differently from what it is; an invisible one looks like another.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
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
  if (!isPlainText(text)) throw new CaError('ERR_NAME_INVALID', `identity: ${what} holds control, bidi or invisible characters, which are refused`);
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
