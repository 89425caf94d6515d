// What a new operator ran into: rotating twice within the lead, an output path that is a folder, a reload that
// fails under `ca crl sync --once`, and identity patterns and query parameters given wrong.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
