// `ca renew-now`: the daemons and meshca/tls sources it covers renew inside its window, spread out; the others do not.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateSource } from '../../src/tls/index.js';
import { ca, caAsync, caJson, CA_BIN } from '../helpers/run.js';
import { startCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const TD = 'renew.internal';
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


describe('ca renew-now', () => {
  it('ok/the matching daemons and sources renew at spread moments inside the window; the others keep their certificates', async () => {
    const root = tempDir();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Renew CA', '--trust-domain', TD]).code).toBe(0);
    const svc = await startCa(dir);
    cleanups.push(async () => void (await svc.stop()));
    const rootPem = join(dir, 'root.pem');
    // Ten `ca renew --daemon` processes (six in team a) and two sources in this process (one in each team), 24 h certificates.
    const names = [...Array.from({ length: 6 }, (_, i) => `a/d${i}`), ...Array.from({ length: 4 }, (_, i) => `b/d${i}`)];
    const daemons = await Promise.all(
      names.map(async (name) => {
        const file = join(root, name.replace('/', '-'));
        const r = await caAsync(['issue', name.replace('/', '-'), '--dir', dir, '--spiffe-id', `spiffe://${TD}/team-${name}`, '--cert-out', `${file}.pem`, '--key-out', `${file}.key`]);
        expect(r.code, r.stderr).toBe(0);
        const child: ChildProcess = spawn(process.execPath, [CA_BIN, 'renew', '--daemon', '--ca-url', svc.url, '--ca-bundle', rootPem, '--cert', `${file}.pem`, '--key', `${file}.key`], { stdio: ['ignore', 'pipe', 'pipe'] });
        cleanups.push(() => void child.kill('SIGTERM'));
        const d = { name, log: '', renewedAt: [] as number[] };
        child.stderr!.on('data', (b: Buffer) => {
          d.log += b.toString();
          if (/ renewed /.test(b.toString())) d.renewedAt.push(Date.now());
        });
        return d;
      }),
    );
    const sources = await Promise.all(
      ['a', 'b'].map(async (team) => {
        const token = ca(['token', `src-${team}`, '--dir', dir, '--spiffe-id', `spiffe://${TD}/team-${team}/src`]).stdout.trim();
        const source = await CertificateSource.fromCA({ caUrl: svc.url, caBundle: rootPem, dir: join(root, `src-${team}`), token });
        cleanups.push(() => source.close());
        const s = { team, source, renewedAt: [] as number[] };
        source.on('renewed', () => s.renewedAt.push(Date.now()));
        return s;
      }),
    );
    await until('every daemon and source to listen on the stream', () => daemons.every((d) => d.log.includes("listening for renewal advice on the CA's stream")) && sources.every((s) => s.source.revocationStream?.connected === true));

    const advice = caJson<{ suggestedWindow: { start: string; end: string }; matching: number }>(['renew-now', '--dir', dir, '--identity', `spiffe://${TD}/team-a/*`, '--within', '20s', '--json']);
    expect(advice.matching).toBe(7);
    const start = Date.parse(advice.suggestedWindow.start);
    const end = Date.parse(advice.suggestedWindow.end);
    const teamA = [...daemons.filter((d) => d.name.startsWith('a/')).map((d) => d.renewedAt), sources[0]!.renewedAt];
    await until('team a to renew', () => teamA.every((r) => r.length >= 1), 40_000);
    const moments = teamA.map((r) => r[0]!);
    // Inside the window (whole seconds, and the time it takes to answer), spread over it rather than all at once.
    for (const m of moments) {
      expect(m).toBeGreaterThanOrEqual(start);
      expect(m).toBeLessThanOrEqual(end + 3_000);
    }
    expect(Math.max(...moments) - Math.min(...moments)).toBeGreaterThanOrEqual(3_000);
    // Team b, told nothing that covers it, keeps its certificates; team a renewed once, not in a loop.
    await new Promise((r) => setTimeout(r, Math.max(0, end + 3_000 - Date.now())));
    for (const d of daemons.filter((x) => x.name.startsWith('b/'))) expect(d.renewedAt, d.log).toEqual([]);
    expect(sources[1]!.renewedAt).toEqual([]);
    for (const [i, r] of teamA.entries()) expect(r, i < 6 ? daemons[i]!.log : "source").toHaveLength(1);
  }, 120_000);
});
