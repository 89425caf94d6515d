// What operators do with a running CA: rotate API keys (the old secret valid for a grace), read the audit log
// remotely, and find certificates by identity pattern.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';

describe('operating a running CA', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let rootPem: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-rotate-key-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Key CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    svc = await startCa(dir);
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const list = async (key: string) => {
    const r = await httpsRequest(`${svc.url}/v1/certificates`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
    return r.status === 200 ? 200 : `${r.status} ${r.json().error.code}`;
  };

  it('ok/the old secret works through the grace and is refused after it; the new one has the same scopes', async () => {
    const old = ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', 'list,revoke']).stdout.trim();
    const r = ca(['apikey', 'rotate', 'ops', '--dir', dir, '--grace', '3s']);
    expect(r.code, r.stderr).toBe(0);
    const fresh = r.stdout.trim();
    expect(fresh).toMatch(/^mca_[0-9a-f]{16}_/);
    expect(fresh).not.toBe(old);
    expect(r.stderr).toMatch(/^ca: note: the previous key [0-9a-f]{16} keeps working until /);
    expect([await list(old), await list(fresh)]).toEqual([200, 200]);
    const keys = caJson<Array<{ name: string; status: string; scopes: string[]; validUntil?: string }>>(['apikey', 'list', '--dir', dir]);
    expect(keys.map((k) => [k.status, k.scopes])).toEqual([['rotated', ['list', 'revoke']], ['active', ['list', 'revoke']]]);
    await new Promise((res) => setTimeout(res, 3500));
    expect([await list(old), await list(fresh)]).toEqual(['401 ERR_APIKEY_REVOKED', 200]);
    const audit = caJson<Array<{ action: string; detail: { previous?: string } | null }>>(['audit', '--dir', dir]);
    expect(audit.filter((a) => a.action === 'apikey-rotate')).toHaveLength(1);
  });

  it('fail/revoking the name ends the old secret too, even within its grace; an unknown name is refused', async () => {
    const old = ca(['apikey', 'create', '--dir', dir, '--name', 'ci', '--scope', 'list']).stdout.trim();
    const fresh = ca(['apikey', 'rotate', 'ci', '--dir', dir, '--grace', '1h']).stdout.trim();
    expect(ca(['apikey', 'revoke', 'ci', '--dir', dir]).code).toBe(0);
    expect([await list(old), await list(fresh)]).toEqual(['401 ERR_APIKEY_REVOKED', '401 ERR_APIKEY_REVOKED']);
    expectOneLineError(ca(['apikey', 'rotate', 'nobody', '--dir', dir]), 'ERR_APIKEY_NOT_FOUND', 'no active API key is named "nobody"');
  });

  it('ok/ca audit --ca-url shows the log to a key with the audit scope (and records the read); other keys are refused', async () => {
    const auditor = ca(['apikey', 'create', '--dir', dir, '--name', 'auditor', '--scope', 'audit']).stdout.trim();
    const lister = ca(['apikey', 'create', '--dir', dir, '--name', 'lister', '--scope', 'list']).stdout.trim();
    const remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
    const rows = caJson<Array<{ id: number; action: string; actor: string }>>(['audit', ...remote], { env: { MESHCA_API_KEY: auditor } });
    expect(rows.some((r) => r.action === 'apikey-create' && r.id > 0)).toBe(true);
    const table = ca(['audit', ...remote], { env: { MESHCA_API_KEY: auditor } });
    expect(table.stdout.split('\n')[0]).toMatch(/^ID +AT +ACTOR +ACTION +TARGET +OUTCOME$/);
    expect(caJson<Array<{ action: string; actor: string }>>(['audit', '--dir', dir]).some((r) => r.action === 'audit-read' && r.actor === 'apikey:auditor')).toBe(true);
    expectOneLineError(ca(['audit', ...remote], { env: { MESHCA_API_KEY: lister } }), 'ERR_FORBIDDEN', 'audit');
    const verify = ca(['audit', 'verify', ...remote], { env: { MESHCA_API_KEY: auditor } });
    expect([verify.code, verify.stderr.trim()]).toEqual([2, expect.stringMatching(/run it with --dir on the CA host.*\[ERR_USAGE\]$/)]);
  });

  it('ok/ca list --identity and ?identity= keep only certificates with a matching identity, in the scopes\' dialect', async () => {
    const issue = (name: string, ...ids: string[]) => expect(ca(['issue', name, '--dir', dir, ...ids, '--cert-out', join(root, `${name}.pem`), '--key-out', join(root, `${name}.key`)]).code).toBe(0);
    issue('api', '--spiffe-id', 'spiffe://acme.internal/ns/prod/api');
    issue('web', '--dns', 'web.acme.internal');
    issue('db', '--ip', '10.1.2.3');
    const names = (filter: string) => caJson<Array<{ name: string }>>(['list', '--dir', dir, '--identity', filter]).map((c) => c.name).sort();
    expect(names('spiffe://acme.internal/ns/prod/*')).toEqual(['api']);
    expect(names('dns:*.acme.internal')).toEqual(['web']);
    expect(names('10.1.0.0/16')).toEqual(['db']);
    expect(names('*.acme.internal')).toEqual(['web']); // untyped: a DNS pattern, never a SPIFFE ID
    const lister = ca(['apikey', 'create', '--dir', dir, '--name', 'inventory', '--scope', 'list']).stdout.trim();
    const get = (q: string) => httpsRequest(`${svc.url}/v1/certificates?${q}`, { ca: rootPem, headers: { authorization: `Bearer ${lister}` } });
    const r = await get(`identity=${encodeURIComponent('spiffe:spiffe://acme.internal/**')}`);
    expect(r.json().certificates.map((c: { name: string }) => c.name)).toEqual(['api']);
    const bad = await get('identity=spiffe:nope');
    expect([bad.status, bad.json().error.code]).toEqual([400, 'ERR_PATTERN_INVALID']);
    const remote = caJson<Array<{ name: string }>>(['list', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--identity', 'ip:10.0.0.0/8'], { env: { MESHCA_API_KEY: lister } });
    expect(remote.map((c) => c.name)).toEqual(['db']);
  });
});
