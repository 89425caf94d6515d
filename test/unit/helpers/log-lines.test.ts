// The log-line check the service tests run on every line ca serve writes: it must catch a repeated key.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { badLogLines, duplicateKeys } from '../../helpers/log-lines.js';

describe('log lines', () => {
  it('fail/a repeated key is found, at any depth; the same key in different objects is fine', () => {
    expect(duplicateKeys('{"level":30,"msg":"x","level":"intermediate"}')).toEqual(['level']);
    expect(duplicateKeys('{"a":{"b":1,"b":[1,{"c":"}","c":2}]}}')).toEqual(['b', 'c']);
    expect(duplicateKeys('{"level":30,"crl":{"level":"root"},"list":[{"level":1},{"level":2}]}')).toEqual([]);
  });

  it('fail/pino writes a field named level beside its own: the check catches what the service must never log', () => {
    let out = '';
    const logger = pino({ base: null }, new Writable({ write: (c, _e, cb) => ((out += c), cb()) }));
    logger.info({ level: 'intermediate' }, 'published CRL');
    logger.flush();
    expect(badLogLines(out)).toEqual([expect.stringContaining('repeats level')]);
    expect(badLogLines('not json\n{"ok":1}\n')).toEqual(['not JSON: not json']);
  });
});
