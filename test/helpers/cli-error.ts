// The failure a CLI user must see: exit 1 (2 for usage errors), one line on stderr naming the problem and its code, no stack trace.

import { expect } from 'vitest';
import type { RunResult } from './run.js';
import { exitCodeFor } from '../../src/cli/output.js';
import type { CaErrorCode } from '../../src/errors.js';

export function expectOneLineError(r: RunResult, code: string, text: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(exitCodeFor(code as CaErrorCode));
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).toContain(text);
  expect(r.stderr).toContain(`[${code}]`);
}
