// What a new operator (and an attacker) ran into: rotating twice within the lead, an output path that is a folder, a
// reload that fails under `ca crl sync --once`, identity patterns and query parameters given wrong, an expired API key
// rotated, an audit log too long for one answer, and odd paths.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';

describe('operator edges', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'meshca-edges-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('ok/two rotations within the lead: the intermediate that signed before both goes on signing', () => {
    const dir = join(root, 'twice');
    expect(ca(['init', '--dir', dir, '--name', 'Twice CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    // A CA older than the lead, as it would be in production.
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, rotationLead: '1h' }));
    const original = caJson<{ serial: string }>(['inspect', join(dir, 'intermediate.pem')]).serial;
    const first = caJson<{ current: { serial: string }; signsFrom: string }>(['intermediate', 'rotate', '--dir', dir]);
    const second = caJson<{ current: { serial: string }; signsFrom: string }>(['intermediate', 'rotate', '--dir', dir]);
    expect(new Date(second.signsFrom).getTime() - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(new Set([original, first.current.serial, second.current.serial]).size).toBe(3);
    const out = join(root, 'twice-leaf.pem');
    expect(ca(['issue', 'svc', '--dir', dir, '--dns', 'svc.acme.internal', '--cert-out', out, '--key-out', join(root, 'twice-leaf.key')]).code).toBe(0);
    // The chain written beside the leaf is its issuer's: the original intermediate, neither of the new ones.
    const chain = caJson<Array<{ serial: string }>>(['inspect', out]);
    expect(chain[1]?.serial).toBe(original);
  });

  it('fail/an output path that is a folder is refused before anything is issued', () => {
    const dir = join(root, 'folder');
    expect(ca(['init', '--dir', dir, '--name', 'Folder CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    const folder = join(root, 'a-folder');
    mkdirSync(folder);
    expectOneLineError(ca(['issue', 'x', '--dir', dir, '--dns', 'x.acme.internal', '--cert-out', folder, '--key-out', join(root, 'x.key')]), 'ERR_FILE_WRITE', 'is a directory');
    expectOneLineError(ca(['issue', 'x', '--dir', dir, '--dns', 'x.acme.internal', '--cert-out', join(root, 'x.pem'), '--key-out', folder, '--force']), 'ERR_FILE_WRITE', 'is a directory');
    expect(existsSync(join(root, 'x.key'))).toBe(false);
    expect(caJson<unknown[]>(['list', '--dir', dir])).toHaveLength(0);
    expectOneLineError(ca(['crl', '--dir', dir, '--out', folder]), 'ERR_FILE_WRITE', 'is a directory');
    expectOneLineError(ca(['init', '--dir', join(root, 'folder2'), '--name', 'F', '--trust-domain', 'acme.internal', '--root-key-out', folder]), 'ERR_FILE_WRITE', 'is a directory');
    expect(existsSync(join(root, 'folder2'))).toBe(false);
  });

  it('fail/identity patterns given wrong are usage errors (exit 2) that say what a pattern is', () => {
    const dir = join(root, 'folder');
    for (const pattern of ['', 'dns:bad..name']) {
      const r = ca(['list', '--dir', dir, '--identity', pattern]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('an identity pattern is spiffe:PATTERN, dns:PATTERN or ip:ADDRESS');
      expect(r.stderr).toContain('[ERR_PATTERN_INVALID]');
      expect(r.stderr).not.toMatch(/issue:|revoke, list or audit/);
    }
    expect(ca(['apikey', 'rotate', 'x', '--dir', dir, '--grace', 'bogus']).code).toBe(2);
  });

  it('fail/an expired API key is not rotated back to life, and nothing changes', async () => {
    const dir = join(root, 'folder');
    expect(ca(['apikey', 'create', '--dir', dir, '--name', 'short', '--scope', 'list', '--expires', '1s']).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expectOneLineError(ca(['apikey', 'rotate', 'short', '--dir', dir]), 'ERR_APIKEY_EXPIRED', 'expired at');
    const keys = caJson<{ name: string; status: string }[]>(['apikey', 'list', '--dir', dir]).filter((k) => k.name === 'short');
    expect(keys).toEqual([expect.objectContaining({ status: 'expired' })]);
  });

  it('fail/--identity given twice, and --root-key-out empty or a symbolic link, are refused before anything is made', () => {
    const dir = join(root, 'folder');
    const twice = ca(['list', '--dir', dir, '--identity', 'dns:a.acme.internal', '--identity', 'dns:b.acme.internal']);
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringContaining('it is given once')]);
    expectOneLineError(ca(['init', '--dir', join(root, 'empty-out'), '--name', 'E', '--trust-domain', 'acme.internal', '--root-key-out', '']), 'ERR_USAGE', 'needs the name of a new file');
    const link = join(root, 'dangling-link');
    symlinkSync(join(root, 'nowhere', 'root.key'), link);
    expectOneLineError(ca(['init', '--dir', join(root, 'link-out'), '--name', 'L', '--trust-domain', 'acme.internal', '--root-key-out', link]), 'ERR_FILE_EXISTS', 'symbolic link');
    expect([existsSync(join(root, 'empty-out')), existsSync(join(root, 'link-out'))]).toEqual([false, false]);
  });

  describe('with a running CA', () => {
    let dir: string;
    let svc: RunningCa;
    beforeAll(async () => {
      dir = join(root, 'running');
      expect(ca(['init', '--dir', dir, '--name', 'Running CA', '--trust-domain', 'acme.internal']).code).toBe(0);
      svc = await startCa(dir);
    });
    afterAll(async () => svc?.stop());

    it('fail/a failed --exec under --once exits 1 and is retried by the next run, even with the file unchanged', () => {
      const out = join(root, 'sync-crl.pem');
      const sync = (exec: string) => ca(['crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out, '--once', '--exec', exec]);
      const failed = sync('exit 3');
      expect(failed.code).toBe(1);
      // What the hook did, then the one-line error.
      expect(failed.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining('--exec exited with 3'), expect.stringMatching(/the next run retries it \[ERR_EXEC_FAILED\]$/)]);
      expect(existsSync(out)).toBe(true);
      const marker = join(root, 'reloaded');
      const again = sync(`touch ${marker}`);
      expect(again.code, again.stderr).toBe(0);
      expect(existsSync(marker)).toBe(true);
      expect(existsSync(`${out}.reload-failed`)).toBe(false);
      rmSync(marker);
      expect(sync(`touch ${marker}`).code).toBe(0);
      // Unchanged and nothing to retry: no reload.
      expect(existsSync(marker)).toBe(false);
    });

    it('ok/the audit log comes a page at a time: --limit/--after, ?limit=&after= with next, a note when more rows follow', async () => {
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'auditor', '--scope', 'audit']).stdout.trim();
      const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      const first = await httpsRequest(`${svc.url}/v1/audit?limit=2`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
      const page = first.json() as { events: { id: number }[]; next: number | null };
      expect([first.status, page.events.map((e) => e.id), page.next]).toEqual([200, [1, 2], 2]);
      const second = (await httpsRequest(`${svc.url}/v1/audit?limit=2&after=2`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } })).json() as typeof page;
      expect(second.events.map((e) => e.id)).toEqual([3, 4]);
      for (const query of ['limit=10001', 'after=-1', 'after=1e3', 'limit=1&limit=2']) {
        const r = await httpsRequest(`${svc.url}/v1/audit?${query}`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
        expect([r.status, r.json().error.code], query).toEqual([400, 'ERR_QUERY_INVALID']);
      }
      const local = ca(['audit', '--dir', dir, '--limit', '3', '--after', '1', '--json']);
      expect(JSON.parse(local.stdout).map((e: { id: number }) => e.id)).toEqual([2, 3, 4]);
      expect(local.stderr).toContain('more rows follow row 4: ca audit --after 4');
      const remote = ca(['audit', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--limit', '1', '--json'], { env: { MESHCA_API_KEY: key } });
      expect([remote.code, JSON.parse(remote.stdout).length, remote.stderr]).toEqual([0, 1, expect.stringContaining('ca audit --after 1')]);
      for (const bad of [['--limit', '0'], ['--limit', '10001'], ['--after', 'x']]) expect(ca(['audit', '--dir', dir, ...bad]).code, bad.join(' ')).toBe(2);
      expect(ca(['audit', 'verify', '--dir', dir, '--limit', '5']).code).toBe(2);
    });

    it('fail/a CRL path that is not served names the ones that are', async () => {
      const r = await fetch(`${svc.httpUrl}/crl/INTERMEDIATE.crl`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/^revocation: no CRL at \/crl\/INTERMEDIATE\.crl \(served: /);
    });

    it('fail/a query parameter given twice or a bad status is ERR_QUERY_INVALID', async () => {
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'lister', '--scope', 'list']).stdout.trim();
      const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      for (const query of ['identity=a&identity=b', 'status=weird', 'limit=0']) {
        const r = await httpsRequest(`${svc.url}/v1/certificates?${query}`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
        expect([r.status, r.json().error.code]).toEqual([400, 'ERR_QUERY_INVALID']);
      }
    });
  });
});
