// The CA service end to end: a real `ca serve` on 127.0.0.1, driven by the built CLI and by curl.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ca, caJson, openssl, type RunResult } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCsr } from '../helpers/csr.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const TD = 'acme.internal';

function oneLineError(r: RunResult, code: string, text: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(text);
  expect(r.stderr).toContain(`[${code}]`);
}

function initCa(root: string, name = 'ca'): string {
  const dir = join(root, name);
  const r = ca(['init', '--dir', dir, '--name', 'Service CA', '--trust-domain', TD]);
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

/** Every leaf serial in the database, as the operator sees it. */
const serials = (dir: string): string[] => caJson<Array<{ serial: string }>>(['list', '--dir', dir]).map((c) => c.serial).sort();

describe('ca serve', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let remote: string[];
  let rootPem: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-service-'));
    dir = initCa(root);
    svc = await startCa(dir);
    remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const out = (name: string) => join(root, name);
  const enroll = (name: string, tokenArgs: string[], issueArgs: string[] = []) => {
    const token = ca(['token', name, '--dir', dir, ...tokenArgs]).stdout.trim();
    return { token, result: ca(['issue', name, ...remote, '--token', token, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`), '--force', ...issueArgs, '--json']) };
  };

  describe('enrollment tokens', () => {
    it('ok/a token gets exactly its identities, once; the chain verifies with OpenSSL', () => {
      const { token, result } = enroll('api', ['--spiffe-id', `spiffe://${TD}/api`, '--dns', 'api.acme.internal']);
      expect(token.split('.')).toHaveLength(3);
      expect(result.code, result.stderr).toBe(0);
      const leaf = JSON.parse(result.stdout);
      expect(leaf).toMatchObject({ spiffeId: `spiffe://${TD}/api`, dnsNames: ['api.acme.internal'], ipAddresses: [] });
      expect(openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediate.pem'), out('api.pem')]).code).toBe(0);
      const audit = caJson<Array<{ actor: string; action: string; target: string }>>(['audit', '--dir', dir]);
      expect(audit.find((a) => a.target === leaf.serial)?.actor).toMatch(/^token:[0-9a-f-]{36}$/);

      const before = serials(dir);
      oneLineError(ca(['issue', 'api', ...remote, '--token', token, '--cert-out', out('again.pem'), '--key-out', out('again.key')]), 'ERR_TOKEN_REPLAYED', 'already used');
      expect(serials(dir)).toEqual(before);
    });

    it.each([
      ['fail/another SPIFFE ID', ['--spiffe-id', `spiffe://${TD}/admin`], `does not grant spiffe://${TD}/admin`],
      ['fail/another DNS name', ['--dns', 'admin.acme.internal'], 'does not grant admin.acme.internal'],
      ['fail/an extra IP', ['--spiffe-id', `spiffe://${TD}/x`, '--ip', '10.9.9.9'], 'does not grant 10.9.9.9'],
    ])('%s is refused and the token stays unspent', (_n, ask, text) => {
      const token = ca(['token', 'x', '--dir', dir, '--spiffe-id', `spiffe://${TD}/x`]).stdout.trim();
      const before = serials(dir);
      oneLineError(ca(['issue', 'x', ...remote, '--token', token, ...ask, '--cert-out', out('x.pem'), '--key-out', out('x.key'), '--force']), 'ERR_IDENTITY_NOT_PERMITTED', text);
      expect(serials(dir)).toEqual(before);
      expect(ca(['issue', 'x', ...remote, '--token', token, '--cert-out', out('x.pem'), '--key-out', out('x.key'), '--force']).code).toBe(0);
    });

    it('fail/an expired token', async () => {
      const token = ca(['token', 'late', '--dir', dir, '--dns', 'late.acme.internal', '--ttl', '1s']).stdout.trim();
      await new Promise((r) => setTimeout(r, 2100));
      oneLineError(ca(['issue', 'late', ...remote, '--token', token, '--cert-out', out('late.pem'), '--key-out', out('late.key')]), 'ERR_TOKEN_EXPIRED', 'has expired');
    });

    it('fail/a token from another CA with the same trust domain, and garbage', () => {
      const otherDir = initCa(root, 'other-ca');
      const foreign = ca(['token', 'api', '--dir', otherDir, '--dns', 'api.acme.internal']).stdout.trim();
      oneLineError(ca(['issue', 'api', ...remote, '--token', foreign, '--cert-out', out('f.pem'), '--key-out', out('f.key')]), 'ERR_TOKEN_INVALID', 'not valid for this CA');
      oneLineError(ca(['issue', 'api', ...remote, '--token', 'not.a.jwt', '--cert-out', out('f.pem'), '--key-out', out('f.key')]), 'ERR_TOKEN_INVALID', 'not valid');
    });

    it('fail/ca token refuses identities the CA would refuse, and lifetimes over 1h', () => {
      oneLineError(ca(['token', 'x', '--dir', dir, '--spiffe-id', 'spiffe://evil.internal/x']), 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN', 'outside');
      oneLineError(ca(['token', 'x', '--dir', dir, '--dns', 'x.acme.internal', '--ttl', '2h']), 'ERR_TTL_TOO_LONG', 'at most 1h');
    });
  });

  describe('API keys', () => {
    it('ok/scopes are enforced: issue glob, list, revoke; every use is audited; only a hash is stored', async () => {
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'deployer', '--scope', `issue:spiffe://${TD}/ns/prod/*`, '--scope', 'issue:*.prod.acme.internal', '--scope', 'list']).stdout.trim();
      expect(key).toMatch(/^mca_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      const args = (name: string, extra: string[]) => ['issue', name, ...remote, '--api-key', key, ...extra, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`), '--force'];
      const ok = caJson<{ serial: string }>(args('pay', ['--spiffe-id', `spiffe://${TD}/ns/prod/pay`, '--dns', 'pay.prod.acme.internal']));
      oneLineError(ca(args('pay', ['--spiffe-id', `spiffe://${TD}/ns/dev/pay`])), 'ERR_IDENTITY_NOT_PERMITTED', `may not request SPIFFE ID spiffe://${TD}/ns/dev/pay`);
      oneLineError(ca(args('pay', ['--dns', 'pay.dev.acme.internal'])), 'ERR_IDENTITY_NOT_PERMITTED', 'may not request DNS name pay.dev.acme.internal');
      const listed = caJson<Array<{ serial: string }>>(['list', ...remote, '--api-key', key]);
      expect(listed.map((c) => c.serial)).toContain(ok.serial);
      oneLineError(ca(['revoke', ok.serial, ...remote, '--api-key', key]), 'ERR_FORBIDDEN', 'lacks the revoke scope');
      const audit = await httpsRequest(`${svc.url}/v1/audit`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
      expect(audit.status).toBe(403);
      expect(audit.json().error.code).toBe('ERR_FORBIDDEN');

      // Refusals are written, aggregated, when their window (a second, or longer while busy) closes: wait for it.
      const read = () => caJson<Array<{ actor: string; action: string; outcome: string; detail: { count?: number } | null }>>(['audit', '--dir', dir]).filter((r) => r.actor === 'apikey:deployer');
      let rows = read();
      for (let i = 0; i < 40 && rows.filter((r) => r.outcome === 'refused').length < 3; i++) {
        await new Promise((r) => setTimeout(r, 250));
        rows = read();
      }
      expect(rows.filter((r) => r.outcome === 'ok').map((r) => r.action)).toEqual(['issue', 'list']);
      const refused = (action: string) => rows.filter((r) => r.outcome === 'refused' && r.action === action).reduce((n, r) => n + (r.detail?.count ?? 0), 0);
      expect([refused('POST /v1/sign'), refused('POST /v1/certificates/:serial/revoke'), refused('GET /v1/audit')]).toEqual([2, 1, 1]);
      expect(readFileSync(join(dir, 'ca.db')).includes(Buffer.from(key.slice(21)))).toBe(false);
      expect(ca(['apikey', 'list', '--dir', dir]).stdout).not.toContain(key.slice(21));
      expect(svc.log()).not.toContain(key.slice(21));
    });

    it('fail/expired, revoked, malformed and unknown keys', async () => {
      const expiring = ca(['apikey', 'create', '--dir', dir, '--name', 'brief', '--scope', 'list', '--expires', '1s']).stdout.trim();
      const revoked = ca(['apikey', 'create', '--dir', dir, '--name', 'gone', '--scope', 'list']).stdout.trim();
      expect(ca(['apikey', 'revoke', 'gone', '--dir', dir]).code).toBe(0);
      await new Promise((r) => setTimeout(r, 2100));
      oneLineError(ca(['list', ...remote, '--api-key', expiring]), 'ERR_APIKEY_EXPIRED', 'expired');
      oneLineError(ca(['list', ...remote, '--api-key', revoked]), 'ERR_APIKEY_REVOKED', 'has been revoked');
      oneLineError(ca(['list', ...remote, '--api-key', 'mca_nonsense']), 'ERR_APIKEY_INVALID', 'malformed');
      oneLineError(ca(['list', ...remote, '--api-key', `mca_0000000000000000_${'A'.repeat(43)}`]), 'ERR_APIKEY_INVALID', 'not valid');
      const keys = caJson<Array<{ name: string; status: string }>>(['apikey', 'list', '--dir', dir]);
      expect(keys.find((k) => k.name === 'gone')?.status).toBe('revoked');
      expect(keys.find((k) => k.name === 'brief')?.status).toBe('expired');
      // a revoked name can be reused by a new key; an active one cannot
      expect(ca(['apikey', 'create', '--dir', dir, '--name', 'gone', '--scope', 'list']).code).toBe(0);
      oneLineError(ca(['apikey', 'create', '--dir', dir, '--name', 'gone', '--scope', 'list']), 'ERR_APIKEY_NAME_TAKEN', 'already named "gone"');
      oneLineError(ca(['apikey', 'create', '--dir', dir, '--name', 'x', '--scope', 'admin']), 'ERR_SCOPE_INVALID', 'scope "admin" is unknown');
      oneLineError(ca(['apikey', 'create', '--dir', dir, '--name', 'x', '--scope', 'list', '--expires', '91d']), 'ERR_TTL_TOO_LONG', '90 days');
    });
  });

  describe('renewal windows (renewal-info, renew-now)', () => {
    const post = (key: string | undefined, body: unknown) =>
      httpsRequest(`${svc.url}/v1/renewal-advice`, { method: 'POST', ca: rootPem, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });
    const info = (serial: string) => httpsRequest(`${svc.url}/v1/certificates/${serial}/renewal-info`, { ca: rootPem });

    it('ok/renewal-info needs no credential and gives the default window; renew-now moves it, by API and by ca renew-now --ca-url', async () => {
      const leaf = caJson<{ serial: string; notBefore: string; notAfter: string }>(['issue', 'ari', '--dir', dir, '--spiffe-id', `spiffe://${TD}/ns/ari/api`, '--ttl', '24h', '--cert-out', out('ari.pem'), '--key-out', out('ari.key'), '--force']);
      const first = await info(leaf.serial);
      expect(first.status).toBe(200);
      const life = Date.parse(leaf.notAfter) - Date.parse(leaf.notBefore);
      // The window counts from when the CA signed it: notBefore is backdated a minute.
      const signed = Date.parse(leaf.notBefore) + 60_000;
      const signedLife = Date.parse(leaf.notAfter) - signed;
      expect(first.json()).toEqual({ suggestedWindow: { start: new Date(signed + Math.floor((signedLife * 2) / 3 / 1000) * 1000).toISOString(), end: new Date(signed + Math.floor((signedLife * 5) / 6 / 1000) * 1000).toISOString() } });
      expect(first.headers['retry-after']).toBe(String(Math.floor(life / 24 / 1000)));
      expect(first.headers['cache-control']).toBe('no-store');

      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'rotator', '--scope', 'revoke']).stdout.trim();
      const r = await post(key, { serial: leaf.serial, within: '5m', explanationUrl: 'https://status.acme.internal/ari' });
      expect(r.status, r.body).toBe(200);
      const rule = r.json();
      expect(rule).toMatchObject({ selector: { serial: leaf.serial }, explanationURL: 'https://status.acme.internal/ari', matching: 1 });
      expect(Date.parse(rule.suggestedWindow.end) - Date.parse(rule.suggestedWindow.start)).toBe(300_000);
      const moved = await info(leaf.serial.toUpperCase());
      expect(moved.json()).toEqual({ suggestedWindow: rule.suggestedWindow, explanationURL: 'https://status.acme.internal/ari' });
      expect(Number(moved.headers['retry-after'])).toBeGreaterThanOrEqual(1);

      writeFileSync(out('rotator.key'), `${key}\n`);
      const remoteRule = caJson<{ id: number; selector: { identity: string }; matching: number }>(['renew-now', ...remote, '--api-key-file', out('rotator.key'), '--identity', `spiffe://${TD}/ns/ari/*`, '--within', '2m']);
      expect(remoteRule).toMatchObject({ id: rule.id + 1, selector: { identity: `spiffe:spiffe://${TD}/ns/ari/*` }, matching: 1 });
      const human = ca(['renew-now', ...remote, '--api-key-file', out('rotator.key'), '--all']);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toContain('pick it up from the push stream at once');
      // The inventory's own lookup of one certificate still needs its API key, and does not take the renewal-info path.
      expect((await httpsRequest(`${svc.url}/v1/certificates/${leaf.serial}`, { ca: rootPem })).status).toBe(401);
    });

    it('fail/renewal-info of a serial this CA never issued (or of no serial): 404 JSON', async () => {
      for (const serial of ['4abcdef0', 'not-hex']) {
        const r = await info(serial);
        expect(r.status).toBe(404);
        expect(r.json().error.code).toBe('ERR_CERTIFICATE_NOT_FOUND');
      }
      const query = await httpsRequest(`${svc.url}/v1/certificates/4abcdef0/renewal-info?x=1`, { ca: rootPem });
      expect([query.status, query.json().error.code]).toEqual([400, 'ERR_QUERY_INVALID']);
    });

    it('fail/renew-now without a key (401), with a key that lacks revoke (403), and with bad bodies (400, 404): 4xx JSON, nothing recorded', async () => {
      const lister = ca(['apikey', 'create', '--dir', dir, '--name', 'lister', '--scope', 'list']).stdout.trim();
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'rotator2', '--scope', 'revoke']).stdout.trim();
      const rules = () => caJson<Array<{ action: string; outcome: string }>>(['audit', '--dir', dir]).filter((r) => r.action === 'renew-now' && r.outcome === 'ok').length;
      const before = rules();
      const cases: Array<[string | undefined, unknown, number, string]> = [
        [undefined, { all: true }, 401, 'ERR_UNAUTHENTICATED'],
        [lister, { all: true }, 403, 'ERR_FORBIDDEN'],
        [key, {}, 400, 'ERR_BODY_INVALID'],
        [key, { all: true, serial: '4a' }, 400, 'ERR_BODY_INVALID'],
        [key, { all: false }, 400, 'ERR_BODY_INVALID'],
        [key, { all: true, reason: 'x' }, 400, 'ERR_BODY_INVALID'],
        [key, { serial: 42 }, 400, 'ERR_BODY_INVALID'],
        [key, { serial: '4abcdef0' }, 404, 'ERR_CERTIFICATE_NOT_FOUND'],
        [key, { identity: 'dns:a..b' }, 400, 'ERR_PATTERN_INVALID'],
        [key, { issuedBefore: 'yesterday' }, 400, 'ERR_ADVICE_INVALID'],
        [key, { all: true, within: 'soon' }, 400, 'ERR_DURATION_INVALID'],
        [key, { all: true, within: '30d' }, 400, 'ERR_ADVICE_INVALID'],
        [key, { all: true, explanationUrl: 'javascript:alert(1)' }, 400, 'ERR_ADVICE_INVALID'],
        [key, [1], 400, 'ERR_BODY_INVALID'],
      ];
      for (const [credential, body, status, code] of cases) {
        const r = await post(credential, body);
        expect([status, code], JSON.stringify(body)).toEqual([r.status, r.json().error.code]);
      }
      expect(rules()).toBe(before);
    });
  });

  describe('renewal over mTLS', () => {
    const enrolled = (name: string) => {
      const { result } = enroll(name, ['--spiffe-id', `spiffe://${TD}/${name}`, '--dns', `${name}.acme.internal`, '--ip', '10.0.0.9']);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { serial: string; spiffeId: string; dnsNames: string[]; ipAddresses: string[] };
    };
    const renewArgs = (name: string) => ['renew', ...remote, '--cert', out(`${name}.pem`), '--key', out(`${name}.key`)];

    it('ok/keeps identities, changes the serial; --rekey changes the key too', () => {
      const first = enrolled('svc-a');
      const keyBefore = readFileSync(out('svc-a.key'), 'utf8');
      const renewed = caJson<{ serial: string; renewed: string; spiffeId: string; dnsNames: string[]; ipAddresses: string[] }>(renewArgs('svc-a'));
      expect(renewed.renewed).toBe(first.serial);
      expect(renewed.serial).not.toBe(first.serial);
      expect([renewed.spiffeId, renewed.dnsNames, renewed.ipAddresses]).toEqual([first.spiffeId, first.dnsNames, first.ipAddresses]);
      expect(readFileSync(out('svc-a.key'), 'utf8')).toBe(keyBefore);
      const rekeyed = caJson<{ serial: string }>([...renewArgs('svc-a'), '--rekey']);
      expect(readFileSync(out('svc-a.key'), 'utf8')).not.toBe(keyBefore);
      expect(openssl(['x509', '-in', out('svc-a.pem'), '-noout', '-serial']).stdout.trim().toLowerCase()).toBe(`serial=${rekeyed.serial}`);
      const certPub = openssl(['x509', '-in', out('svc-a.pem'), '-noout', '-pubkey']).stdout;
      expect(openssl(['pkey', '-in', out('svc-a.key'), '-pubout']).stdout).toBe(certPub);
    });

    it('fail/a revoked certificate; self-revocation works, revoking someone else does not', () => {
      const a = enrolled('svc-b');
      const other = enrolled('svc-c');
      oneLineError(ca(['revoke', other.serial, ...remote, '--cert', out('svc-b.pem'), '--key', out('svc-b.key')]), 'ERR_FORBIDDEN', 'may revoke only itself');
      const r = caJson<{ serial: string; alreadyRevoked: boolean }>(['revoke', ...remote, '--cert', out('svc-b.pem'), '--key', out('svc-b.key'), '--reason', 'keyCompromise']);
      expect(r).toMatchObject({ serial: a.serial, alreadyRevoked: false });
      oneLineError(ca(renewArgs('svc-b')), 'ERR_CERTIFICATE_REVOKED', 'is revoked');
    });

    it('fail/a browser request for another site\'s page cannot renew or revoke with the browser\'s certificate; ok/same origin, and clients that send neither header', () => {
      const a = enrolled('svc-x');
      const post = (path: string, headers: string[], body?: string) => {
        const r = spawnSync('curl', ['-sS', '--cacert', join(dir, 'root.pem'), '--cert', out('svc-x.pem'), '--key', out('svc-x.key'), '-X', 'POST', ...headers.flatMap((h) => ['-H', h]), ...(body ? ['-H', 'Content-Type: text/plain', '-d', body] : []), '-w', '\n%{http_code}', `${svc.url}${path}`], { encoding: 'utf8' });
        const lines = r.stdout.trimEnd().split('\n');
        return { status: Number(lines.at(-1)), json: JSON.parse(lines.slice(0, -1).join('\n')) as { error?: { code: string; message: string }; serial?: string; revokedAt?: string } };
      };
      for (const headers of [['Origin: https://evil.example'], ['Sec-Fetch-Site: cross-site'], ['Sec-Fetch-Site: same-site'], ['Origin: null']]) {
        const renew = post('/v1/renew', headers);
        expect([renew.status, renew.json.error?.code], JSON.stringify(headers)).toEqual([403, 'ERR_CROSS_SITE']);
        const revoke = post(`/v1/certificates/${a.serial}/revoke`, headers, '{"reason":"keyCompromise"}');
        expect([revoke.status, revoke.json.error?.code], JSON.stringify(headers)).toEqual([403, 'ERR_CROSS_SITE']);
      }
      // Nothing was renewed or revoked by those; the same origin, and a client with neither header, are served.
      expect(caJson<Array<{ serial: string; status: string }>>(['list', '--dir', dir, '--json', '--identity', `spiffe://${TD}/svc-x`]).map((c) => [c.serial, c.status])).toEqual([[a.serial, 'valid']]);
      const sameOrigin = post('/v1/renew', [`Origin: ${svc.url}`, 'Sec-Fetch-Site: same-origin']);
      expect([sameOrigin.status, sameOrigin.json.error]).toEqual([201, undefined]);
      expect(post('/v1/renew', []).status).toBe(201);
    });

    it('fail/an expired certificate', async () => {
      expect(ca(['issue', 'short', '--dir', dir, '--dns', 'short.acme.internal', '--ttl', '1s', '--cert-out', out('short.pem'), '--key-out', out('short.key')]).code).toBe(0);
      await new Promise((r) => setTimeout(r, 2100));
      oneLineError(ca(renewArgs('short')), 'ERR_CERTIFICATE_EXPIRED', 'has expired');
    });

    it('fail/a certificate from another CA with the same trust domain', () => {
      const otherDir = initCa(root, 'impostor-ca');
      expect(ca(['issue', 'imp', '--dir', otherDir, '--spiffe-id', `spiffe://${TD}/svc-a`, '--cert-out', out('imp.pem'), '--key-out', out('imp.key')]).code).toBe(0);
      oneLineError(ca(renewArgs('imp')), 'ERR_CERTIFICATE_UNTRUSTED', 'does not chain to this CA');
      oneLineError(ca(['renew', ...remote, '--cert', out('svc-a.pem'), '--key', out('imp.key')]), 'ERR_KEY_INVALID', 'is not the key of');
    });
  });

  describe('foreign clients and bad input', () => {
    it('ok/curl signs with an API key, renews with mTLS and fetches the trust bundle over plain HTTP', () => {
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'curl', '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
      const keyPath = out('curl.key');
      const made = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', '/CN=curl', '-out', out('curl.csr')]);
      expect(made.code).toBe(0);
      const body = JSON.stringify({ csr: readFileSync(out('curl.csr'), 'utf8'), name: 'curl', dnsNames: ['curl.acme.internal'] });
      const signed = spawnSync('curl', ['-sS', '--cacert', join(dir, 'root.pem'), '-H', `Authorization: Bearer ${key}`, '-H', 'Content-Type: application/json', '-d', body, '-w', '\n%{http_code}', `${svc.url}/v1/sign`], { encoding: 'utf8' });
      const [json, status] = signed.stdout.split('\n').reduce<[string, string]>((acc, line, i, all) => (i === all.length - 1 ? [acc[0], line] : [acc[0] + line + '\n', acc[1]]), ['', '']);
      expect(status).toBe('201');
      const leaf = JSON.parse(json);
      writeFileSync(out('curl.pem'), leaf.certificate + leaf.chain);
      expect(leaf.dnsNames).toEqual(['curl.acme.internal']);

      const renewed = spawnSync('curl', ['-sS', '--cacert', join(dir, 'root.pem'), '--cert', out('curl.pem'), '--key', keyPath, '-X', 'POST', `${svc.url}/v1/renew`], { encoding: 'utf8' });
      expect(JSON.parse(renewed.stdout)).toMatchObject({ renewed: leaf.serial, dnsNames: ['curl.acme.internal'] });

      const bundle = spawnSync('curl', ['-sS', `${svc.httpUrl}/v1/trust-bundle`], { encoding: 'utf8' }).stdout;
      expect(bundle).toBe(readFileSync(join(dir, 'root.pem'), 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8'));

      const anon = spawnSync('curl', ['-sS', '--cacert', join(dir, 'root.pem'), '-X', 'POST', '-w', '\n%{http_code}', `${svc.url}/v1/renew`], { encoding: 'utf8' }).stdout.split('\n');
      expect(anon[1]).toBe('401');
      expect(JSON.parse(anon[0]!).error.code).toBe('ERR_UNAUTHENTICATED');
    });

    it('fail/bad bodies get a 4xx JSON error, never a 5xx, and store no certificate', async () => {
      const key = ca(['apikey', 'create', '--dir', dir, '--name', 'fuzzer', '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
      const good = await makeCsr('ec-p256');
      const other = await makeCsr('ec-p256');
      const swapped = Buffer.from(good.der);
      other.spki.copy(swapped, swapped.indexOf(good.spki));
      const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      const before = serials(dir);
      const cases: Array<[string, string | Buffer, number, string, Record<string, string>?]> = [
        ['not JSON', '{"csr": ', 400, 'ERR_BODY_INVALID'],
        ['huge', JSON.stringify({ csr: 'A'.repeat(200_000) }), 413, 'ERR_BODY_TOO_LARGE'],
        ['an array', '[1,2]', 400, 'ERR_BODY_INVALID'],
        ['wrong types', JSON.stringify({ csr: 42, name: 'x' }), 400, 'ERR_BODY_INVALID'],
        ['dnsNames not a list', JSON.stringify({ csr: good.pem, name: 'x', dnsNames: 'a.acme.internal' }), 400, 'ERR_BODY_INVALID'],
        ['unknown field', JSON.stringify({ csr: good.pem, name: 'x', dnsNames: ['x.acme.internal'], admin: true }), 400, 'ERR_BODY_INVALID'],
        ['missing csr', JSON.stringify({ name: 'x' }), 400, 'ERR_BODY_INVALID'],
        ['garbage CSR', JSON.stringify({ csr: pemOf(Buffer.from('garbage')), name: 'x', dnsNames: ['x.acme.internal'] }), 400, 'ERR_CSR_MALFORMED'],
        ['CSR for another key than claimed', JSON.stringify({ csr: pemOf(swapped), name: 'x', dnsNames: ['x.acme.internal'] }), 400, 'ERR_CSR_SIGNATURE'],
        ['bad TTL', JSON.stringify({ csr: good.pem, name: 'x', dnsNames: ['x.acme.internal'], ttl: 'forever' }), 400, 'ERR_DURATION_INVALID'],
        ['not JSON content type', 'csr=x', 400, 'ERR_BODY_INVALID', { 'content-type': 'application/x-www-form-urlencoded' }],
      ];
      for (const [what, body, status, code, headers] of cases) {
        const r = await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, body, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers } });
        expect([what, r.status]).toEqual([what, status]);
        expect([what, r.json().error.code]).toEqual([what, code]);
        expect(r.json().error.message).toMatch(/^\w+: /);
      }
      const notFound = await httpsRequest(`${svc.url}/v1/nothing`, { ca: rootPem });
      expect([notFound.status, notFound.json().error.code]).toEqual([404, 'ERR_NOT_FOUND']);
      const badSerial = await httpsRequest(`${svc.url}/v1/certificates/xyz/revoke`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${key}` } });
      expect([badSerial.status, badSerial.json().error.code]).toEqual([400, 'ERR_BODY_INVALID']);
      const badHeader = await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: 'Basic abc' } });
      expect([badHeader.status, badHeader.json().error.code]).toEqual([401, 'ERR_UNAUTHENTICATED']);
      const bigHeader = await httpsRequest(`${svc.url}/healthz`, { ca: rootPem, headers: { 'x-filler': 'x'.repeat(20_000) } });
      expect(bigHeader.status).toBe(431);
      expect(serials(dir)).toEqual(before);
      expect(svc.log()).not.toMatch(/"level":50/);
    });

    it('ok/health, readiness, metrics and the OpenAPI document on both listeners', async () => {
      for (const base of [svc.url, svc.httpUrl]) {
        const get = (p: string) => (base.startsWith('https') ? httpsRequest(`${base}${p}`, { ca: rootPem }) : fetch(`${base}${p}`).then(async (r) => ({ status: r.status, body: await r.text(), json: () => null })));
        expect((await get('/healthz')).status).toBe(200);
        const ready = await get('/readyz');
        expect([ready.status, JSON.parse(ready.body).checks]).toEqual([200, { database: 'ok', intermediate: 'ok' }]);
        const metrics = await get('/metrics');
        expect(metrics.body).toContain('meshca_certificates_issued_total{kind="issue"}');
        expect(metrics.body).toContain('meshca_refusals_total');
        expect(metrics.body).toContain('meshca_ca_certificate_not_after_seconds{level="intermediate"}');
        expect(JSON.parse((await get('/v1/openapi.json')).body).paths['/v1/sign'].post).toBeDefined();
      }
      const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/meshca_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/sign"/);
      const api = await fetch(`${svc.httpUrl}/v1/sign`, { method: 'POST' });
      expect(api.status).toBe(404);
    });

    it('fail/a second ca serve on the same directory', () => {
      const r = ca(['serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']);
      oneLineError(r, 'ERR_CA_LOCKED', 'another `ca serve` is already running');
    });

    it('fail/the CLI refuses to talk TLS without a bundle, and says when the CA is unreachable', () => {
      const noBundle = ca(['list', '--ca-url', svc.url, '--api-key', 'mca_x']);
      expect([noBundle.code, noBundle.stderr.trimEnd().split('\n').length]).toEqual([2, 1]);
      expect(noBundle.stderr).toMatch(/pass --ca-bundle ROOT.pem .*\[ERR_USAGE\]/);
      const otherDir = initCa(root, 'stranger-ca');
      oneLineError(ca(['list', '--ca-url', svc.url, '--ca-bundle', join(otherDir, 'root.pem'), '--api-key', 'mca_x']), 'ERR_TLS_TRUST', 'is not trusted');
      oneLineError(ca(['list', '--ca-url', 'https://127.0.0.1:1', '--ca-bundle', join(dir, 'root.pem'), '--api-key', 'mca_x']), 'ERR_CA_UNREACHABLE', 'ECONNREFUSED');
    });
  });
});

describe('ca serve lifecycle', () => {
  it('ok/SIGTERM stops it cleanly; the rate limit answers 429', async () => {
    const dir = initCa(tempDir());
    const svc = await startCa(dir, { args: ['--rate-limit', '2'] });
    const key = ca(['apikey', 'create', '--dir', dir, '--name', 'burst', '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
    const csr = await makeCsr('ec-p256');
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const statuses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: csr.pem, name: `n${i}`, dnsNames: [`n${i}.acme.internal`] }) }).then((r) => r.status),
      ),
    );
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s !== 429).every((s) => s === 201)).toBe(true);
    expect(await svc.stop()).toBe(0);
    expect(svc.log()).toContain('"msg":"stopped"');
    // the lock is gone with the process: a new service starts
    const again = await startCa(dir);
    expect(await again.stop()).toBe(0);
  });

  it('ok/ca renew --daemon renews a 45-second certificate twice, across a CA restart', async () => {
    const dir = initCa(tempDir());
    const out = join(dir, '..');
    const svc = await startCa(dir);
    const token = ca(['token', 'daemon', '--dir', dir, '--spiffe-id', `spiffe://${TD}/daemon`, '--cert-ttl', '45s']).stdout.trim();
    expect(ca(['issue', 'daemon', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--token', token, '--cert-out', join(out, 'd.pem'), '--key-out', join(out, 'd.key')]).code).toBe(0);
    const serialOf = () => openssl(['x509', '-in', join(out, 'd.pem'), '-noout', '-serial']).stdout.trim();
    const first = serialOf();
    const daemon = spawn(process.execPath, [join(import.meta.dirname, '../../dist/cmd/ca.js'), 'renew', '--daemon', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--cert', join(out, 'd.pem'), '--key', join(out, 'd.key'), '--exec', `echo renewed >> ${join(out, 'hook.log')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let daemonLog = '';
    daemon.stderr.on('data', (d: Buffer) => (daemonLog += d.toString()));
    // The second CA must be up before the renewed certificate expires (15 s after the failed attempt): a loaded
    // machine starting it slowly fails the test, and nothing it started may outlive it.
    let again: Awaited<ReturnType<typeof startCa>> | undefined;
    let stopped = false;
    try {
      const waitFor = async (pred: () => boolean, ms: number) => {
        const end = Date.now() + ms;
        while (!pred()) {
          if (Date.now() > end) throw new Error(`timed out; daemon said:\n${daemonLog}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await waitFor(() => serialOf() !== first, 60_000);
      const second = serialOf();
      stopped = true;
      expect(await svc.stop()).toBe(0);
      await waitFor(() => /renewal attempt 1 failed/.test(daemonLog), 60_000); // the next renewal is two thirds of the lifetime after the first
      again = await startCa(dir, { httpsPort: svc.httpsPort });
      await waitFor(() => serialOf() !== second, 60_000);
      daemon.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => daemon.on('exit', (c) => r(c)));
      expect(code).toBe(0);
      expect(daemonLog).toContain('SIGTERM: stopping');
      expect(readFileSync(join(out, 'hook.log'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
    } finally {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      if (!stopped) await svc.stop();
      await again?.stop();
    }
  }, 180_000);

  it('ok/ca renew --daemon renews a 15-second certificate every 10 seconds or so, not in a loop (its notBefore is backdated a minute)', async () => {
    const dir = initCa(tempDir());
    const out = join(dir, '..');
    const svc = await startCa(dir);
    const token = ca(['token', 'short', '--dir', dir, '--dns', 'short.acme.internal', '--cert-ttl', '15s']).stdout.trim();
    expect(ca(['issue', 'short', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--token', token, '--ttl', '15s', '--cert-out', join(out, 's.pem'), '--key-out', join(out, 's.key')]).code).toBe(0);
    const daemon = spawn(process.execPath, [join(import.meta.dirname, '../../dist/cmd/ca.js'), 'renew', '--daemon', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--cert', join(out, 's.pem'), '--key', join(out, 's.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let daemonLog = '';
    daemon.stderr.on('data', (d: Buffer) => (daemonLog += d.toString()));
    await new Promise((r) => setTimeout(r, 14_000));
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.on('exit', r));
    const renewals = daemonLog.split('\n').filter((l) => / renewed /.test(l)).length;
    expect(renewals, daemonLog).toBeGreaterThanOrEqual(1);
    expect(renewals, daemonLog).toBeLessThanOrEqual(3);
    await svc.stop();
  }, 60_000);
});
