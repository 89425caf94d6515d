// How CLI results and failures reach the terminal: human text or --json on stdout, one-line errors on stderr, exit codes.

import { CaError, type CaErrorCode } from '../errors.js';
import { escapeUnsafe, escapeUnsafeJson } from '../identity/text.js';

/** What a verb returns: data for scripts and a rendering for people. */
export interface CommandOutput<T = unknown> {
  readonly data: T;
  readonly human: string;
  /** Things the user should know beside the result, printed to stderr as `ca: note: ...` in either mode. */
  readonly notes?: readonly string[];
}

/** Streams the CLI writes to (injectable for in-process tests). */
export interface Terminal {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processTerminal: Terminal = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Exit codes: 0 ok, 1 refused or failed, 2 bad usage, 70 internal error (a bug: please report). */
export const EXIT = { ok: 0, failure: 1, usage: 2, internal: 70 } as const;

// A value the command line got wrong (a duration, an identity pattern) is a usage error too, with its own code.
const USAGE_CODES: ReadonlySet<CaErrorCode> = new Set(['ERR_USAGE', 'ERR_DURATION_INVALID', 'ERR_PATTERN_INVALID', 'ERR_ADVICE_INVALID', 'ERR_REVOCATION_REASON_INVALID']);

/** The one place a CaError code becomes an exit code. */
export function exitCodeFor(code: CaErrorCode): number {
  return USAGE_CODES.has(code) ? EXIT.usage : EXIT.failure;
}

/**
 * Prints a verb's result. Control and bidi characters (from a certificate, a CSR or an old database row) are
 * escaped, so nothing printed can drive the terminal or reorder what a reader sees.
 */
export function printOutput(out: CommandOutput, json: boolean, term: Terminal): void {
  for (const note of out.notes ?? []) term.stderr(`ca: note: ${escapeUnsafe(note)}\n`);
  if (json) term.stdout(`${escapeUnsafeJson(JSON.stringify(out.data, null, 2))}\n`);
  else if (out.human !== '') term.stdout(escapeUnsafe(out.human.endsWith('\n') ? out.human : `${out.human}\n`, ['\n', '\t']));
}

/** Prints a failure as one line (`ca: <message> [CODE]`) and returns the exit code. Stacks only with MESHCA_DEBUG=1. */
export function printError(e: unknown, term: Terminal, json: boolean): number {
  const debug = process.env.MESHCA_DEBUG === '1';
  if (e instanceof CaError) {
    const line = escapeUnsafe(e.message.replace(/\s*\n\s*/g, ' '));
    if (json) term.stdout(`${JSON.stringify({ error: { code: e.code, message: line } })}\n`);
    term.stderr(`ca: ${line} [${e.code}]\n`);
    if (debug && e.stack) term.stderr(`${e.stack}\n`);
    return exitCodeFor(e.code);
  }
  const message = escapeUnsafe(e instanceof Error ? e.message : String(e));
  term.stderr(`ca: internal error: ${message.replace(/\s*\n\s*/g, ' ')} (set MESHCA_DEBUG=1 for details)\n`);
  if (debug && e instanceof Error && e.stack) term.stderr(`${e.stack}\n`);
  return EXIT.internal;
}

/** Lays rows out as a left-aligned text table with a header; every cell is escaped whole (a newline in a name cannot forge a row). */
export function table(headers: readonly string[], given: readonly (readonly string[])[]): string {
  const rows = given.map((r) => r.map((c) => escapeUnsafe(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
