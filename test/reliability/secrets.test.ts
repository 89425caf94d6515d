// No private key, API key, token or passphrase in any log line, error message, audit row or API response; key
// files 0600; a wrong CA passphrase stops `ca serve` with a clear one-line error.

import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ca, type RunResult } from '../helpers/run.js';
import { startCa } from '../helpers/service.js';
import { call } from '../helpers/workload.js';
import { makeCsr } from '../helpers/csr.js';

const TD = 'acme.internal';
const PASSPHRASE = 'a long and secret CA passphrase';
const env = { CA_PASSPHRASE: PASSPHRASE };

/** The base64 body of a PEM (what would leak if a key were printed). */
const pemBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');

describe('secrets stay secret', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-secrets-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('ok/no secret appears in logs, errors, the audit log or responses; key files are 0600', async () => {
    const dir = join(root, 'ca');
    const out = (f: string) => join(root, f);
    expect(ca(['init', '--dir', dir, '--name', 'Secret CA', '--trust-domain', TD], { env }).code).toBe(0);
    const seen: string[] = []; // everything a user, an operator or a log collector gets to read
    const run = (args: string[], options: { deliversSecret?: boolean } = {}): RunResult => {
      const r = ca(args, { env });
      if (!options.deliversSecret) seen.push(r.stdout);
      seen.push(r.stderr);
      return r;
    };
    const apiKey = run(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', 'issue:dns:*.acme.internal', '--scope', 'list', '--scope', 'revoke', '--scope', 'audit'], { deliversSecret: true }).stdout.trim();
    const token = run(['token', 'web', '--dir', dir, '--dns', 'web.acme.internal'], { deliversSecret: true }).stdout.trim();
    const svc = await startCa(dir, { env });
    const caPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
    try {
      // The normal life of a service, and every way of getting it wrong.
      expect(run(['issue', 'web', ...remote, '--token', token, '--cert-out', out('web.pem'), '--key-out', out('web.key')]).code).toBe(0);
      run(['issue', 'web', ...remote, '--token', token, '--cert-out', out('web2.pem'), '--key-out', out('web2.key')]); // replayed
      expect(run(['renew', ...remote, '--cert', out('web.pem'), '--key', out('web.key'), '--rekey']).code).toBe(0);
      expect(run(['list', ...remote, '--api-key', apiKey]).code).toBe(0);
      run(['list', ...remote, '--api-key', `${apiKey.slice(0, -4)}AAAA`]); // a wrong secret for a real key id
      run(['list', ...remote, '--api-key', `${apiKey}x`]);
      run(['issue', 'web', ...remote, '--token', `${token}x`, '--cert-out', out('w3.pem'), '--key-out', out('w3.key')]);
      expect(run(['issue', 'local', '--dir', dir, '--dns', 'local.acme.internal', '--cert-out', out('local.pem'), '--key-out', out('local.key')]).code).toBe(0);
      const csr = await makeCsr();
      for (const [bearer, body] of [
        [apiKey, JSON.stringify({ csr: csr.pem, name: 'api', dnsNames: ['api.acme.internal'] })],
        [apiKey, '{"csr": "nonsense", "name": "x"}'],
        [`${apiKey.slice(0, -1)}B`, '{}'],
        [token, JSON.stringify({ csr: csr.pem })],
        [`${token.slice(0, -2)}xx`, JSON.stringify({ csr: csr.pem })],
        [PASSPHRASE, '{}'],
      ] as const) {
        const r = await call(`${svc.url}/v1/sign`, { method: 'POST', ca: caPem, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body });
        seen.push(r.body);
      }
      for (const path of ['/v1/certificates', '/v1/audit']) seen.push((await call(`${svc.url}${path}`, { ca: caPem, headers: { authorization: `Bearer ${apiKey}` } })).body);
      seen.push(await (await fetch(`${svc.httpUrl}/metrics`)).text());
      run(['audit', '--dir', dir, '--json']);
      run(['apikey', 'list', '--dir', dir, '--json']);
      run(['serve', '--dir', dir]); // refused: already running
    } finally {
      await svc.stop();
    }
    seen.push(svc.log());

    const keyFiles = [join(dir, 'private', 'root.key'), join(dir, 'private', 'intermediate.key'), join(dir, 'private', 'token.key'), join(dir, 'private', 'audit.key'), out('web.key'), out('local.key')];
    const secrets: Record<string, string> = {
      'API key': apiKey,
      // mca_<id>_<secret>: the secret is base64url, which may itself hold '_'.
      'API key secret': apiKey.slice(21),
      'enrollment token': token,
      'token signature': token.split('.')[2]!,
      'CA passphrase': PASSPHRASE,
      ...Object.fromEntries(keyFiles.map((f) => [`private key ${f}`, pemBody(readFileSync(f, 'utf8')).slice(0, 48)])),
    };
    const text = seen.join('\n');
    expect(text.length).toBeGreaterThan(10_000);
    const leaked = Object.entries(secrets).filter(([, s]) => text.includes(s)).map(([what]) => what);
    expect(leaked).toEqual([]);

    for (const f of keyFiles) expect([f, (statSync(f).mode & 0o777).toString(8)]).toEqual([f, '600']);
    expect((statSync(join(dir, 'private')).mode & 0o777).toString(8)).toBe('700');
    expect(readdirSync(join(dir, 'private')).sort()).toEqual(['audit.key', 'intermediate.key', 'root.key', 'token.key']);
  });

  it('fail/a wrong CA passphrase stops ca serve with a one-line error that does not echo it', () => {
    const dir = join(root, 'locked');
    expect(ca(['init', '--dir', dir, '--name', 'Locked CA', '--trust-domain', TD], { env }).code).toBe(0);
    const wrong = 'not the passphrase at all';
    const r = ca(['serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], { env: { CA_PASSPHRASE: wrong } });
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('wrong passphrase');
    expect(r.stderr).toContain('[ERR_PASSPHRASE_WRONG]');
    expect(r.stdout + r.stderr).not.toContain(wrong);
    const none = ca(['serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('[ERR_PASSPHRASE_REQUIRED]');
  });
});
