// Many writers on one CA directory at once: parallel `ca issue` processes and API clients against a running service.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ca, caJson, CA_BIN, runAsync } from '../helpers/run.js';
import { startCa } from '../helpers/service.js';
import { Workload } from '../helpers/workload.js';
import { recordFigures } from '../helpers/figures.js';

const TD = 'acme.internal';

describe('concurrent writers', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-concurrency-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('ok/parallel ca issue processes and API clients: every acknowledged certificate stored once, no duplicate serial, no lost row', async () => {
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Busy CA', '--trust-domain', TD]).code).toBe(0);
    const apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'load', '--scope', `issue:spiffe:spiffe://${TD}/**`, '--scope', 'revoke']).stdout.trim();
    const svc = await startCa(dir, { args: ['--rate-limit', '100000'] });
    const work = new Workload({ url: () => svc.url, ca: readFileSync(join(dir, 'root.pem'), 'utf8'), apiKey, trustDomain: TD }, 8);
    work.start();
    const cli: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => runAsync(process.execPath, [CA_BIN, 'issue', `cli-${round}-${i}`, '--dir', dir, '--dns', `cli-${round}-${i}.acme.internal`, '--cert-out', join(root, `c${round}-${i}.pem`), '--key-out', join(root, `c${round}-${i}.key`), '--json'])),
        );
        for (const r of results) {
          expect(r.code, r.stderr).toBe(0);
          cli.push((JSON.parse(r.stdout) as { serial: string }).serial);
        }
      }
    } finally {
      await work.stop();
      await svc.stop();
    }
    recordFigures('concurrency', { cliProcesses: cli.length, apiIssued: work.issued.size, stored: caJson<unknown[]>(['list', '--dir', dir]).length });
    expect(work.unexpected, work.unexpected.slice(0, 5).join('\n')).toEqual([]);
    expect(work.repeated).toEqual([]);
    const stored = caJson<Array<{ serial: string; name: string }>>(['list', '--dir', dir, '--all']);
    const storedSerials = stored.map((c) => c.serial);
    expect(new Set(storedSerials).size).toBe(storedSerials.length);
    const acknowledged = [...cli, ...work.issued.keys()];
    expect(new Set(acknowledged).size).toBe(acknowledged.length);
    for (const s of acknowledged) expect(storedSerials).toContain(s);
    // Nothing stored that nobody asked for: the service's own TLS certificate is the only other leaf.
    expect(stored.filter((c) => c.name === 'meshca CA service')).toHaveLength(1);
    expect(storedSerials.length).toBe(acknowledged.length + 1);
    expect(work.stats.sign.ok).toBeGreaterThan(10);
  });
});
