// Every authenticated endpoint × every kind of credential, against a real `ca serve`: each cell's status is asserted,
// and no cell may let a caller through where it should not, or answer 5xx.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, initArgs } from '../helpers/databases.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { makeCsr } from '../helpers/csr.js';
import { recordFigures } from '../helpers/figures.js';
import { expectOneLineError } from '../helpers/cli-error.js';

const TD = 'acme.internal';

interface Credential {
  /** Authorization header value, if any. */
  bearer?: string;
  /** Client certificate and key files, if any. */
  cert?: { cert: string; key: string };
}

type Endpoint = 'sign' | 'renew' | 'list' | 'get' | 'revoke' | 'audit';
const ENDPOINTS: Endpoint[] = ['sign', 'renew', 'list', 'get', 'revoke', 'audit'];

describe.each(BACKENDS)('%s', (backend) => {
  describe('authorization matrix', () => {
    let root: string;
    let dir: string;
    let svc: RunningCa;
    let rootPem: string;
    let victim: string;
    const creds = new Map<string, Credential>();
    const out = (name: string) => join(root, name);
    const pair = (name: string) => ({ cert: readFileSync(out(`${name}.pem`), 'utf8'), key: readFileSync(out(`${name}.key`), 'utf8') });

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'meshca-authz-'));
      dir = join(root, 'ca');
      expect(ca(['init', '--dir', dir, '--name', 'Matrix CA', '--trust-domain', TD, ...(await initArgs(backend))]).code).toBe(0);
      const other = join(root, 'other');
      expect(ca(['init', '--dir', other, '--name', 'Impostor CA', '--trust-domain', TD]).code).toBe(0);
      svc = await startCa(dir);
      rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      const remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
      const issueLocal = (d: string, name: string, extra: string[] = []) =>
        expect(ca(['issue', name, '--dir', d, '--spiffe-id', `spiffe://${TD}/${name}`, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`), ...extra]).code).toBe(0);

      // The certificate every cell tries to read or revoke.
      victim = caJson<{ serial: string }>(['issue', 'victim', '--dir', dir, '--spiffe-id', `spiffe://${TD}/victim`, '--cert-out', out('victim.pem'), '--key-out', out('victim.key')]).serial;
      const token = (name: string, extra: string[] = []) => ca(['token', name, '--dir', dir, '--dns', `${name}.acme.internal`, ...extra]).stdout.trim();
      const apiKey = (name: string, scope: string, extra: string[] = []) => ca(['apikey', 'create', '--dir', dir, '--name', name, '--scope', scope, ...extra]).stdout.trim();

      creds.set('none', {});
      creds.set('malformed bearer', { bearer: 'Bearer this-is-not-a-credential' });
      creds.set('expired token', { bearer: `Bearer ${token('m1', ['--ttl', '1s'])}` });
      const replayed = token('m1');
      expect(ca(['issue', 'm1', ...remote, '--token', replayed, '--cert-out', out('m1.pem'), '--key-out', out('m1.key')]).code).toBe(0);
      creds.set('replayed token', { bearer: `Bearer ${replayed}` });
      creds.set('token for another identity', { bearer: `Bearer ${token('someone-else')}` });
      creds.set('API key without the scope', { bearer: `Bearer ${apiKey('narrow', 'issue:other-*')}` });
      creds.set('API key expired', { bearer: `Bearer ${apiKey('brief', 'issue:*,list,revoke,audit', ['--expires', '1s'])}` });
      const revokedKey = apiKey('revoked', 'issue:*,list,revoke,audit');
      expect(ca(['apikey', 'revoke', 'revoked', '--dir', dir]).code).toBe(0);
      creds.set('API key revoked', { bearer: `Bearer ${revokedKey}` });
      const foreignKey = ca(['apikey', 'create', '--dir', other, '--name', 'deleted', '--scope', 'issue:*,list,revoke,audit']).stdout.trim();
      creds.set('API key of a deleted name (unknown here)', { bearer: `Bearer ${foreignKey}` });
      issueLocal(other, 'impostor');
      creds.set('certificate of another CA (same trust domain)', { cert: pair('impostor') });
      issueLocal(dir, 'revoked-svc');
      expect(ca(['revoke', '--cert', out('revoked-svc.pem'), '--dir', dir]).code).toBe(0);
      creds.set('revoked certificate', { cert: pair('revoked-svc') });
      issueLocal(dir, 'expired-svc', ['--ttl', '1s']);
      creds.set('expired certificate', { cert: pair('expired-svc') });
      issueLocal(dir, 'other-svc');
      creds.set('valid certificate of another service', { cert: pair('other-svc') });
      await new Promise((r) => setTimeout(r, 2100)); // the 1-second credentials expire
    });
    afterAll(async () => {
      await svc?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    /** The status each cell must answer; 201 only where the caller acts on itself. */
    const expected = (credential: string, endpoint: Endpoint): number => {
      const bearerOnly = endpoint !== 'renew' && endpoint !== 'revoke';
      switch (credential) {
        case 'token for another identity':
        case 'API key without the scope':
          return endpoint === 'renew' ? 401 : 403;
        case 'replayed token':
          return endpoint === 'renew' || endpoint === 'sign' ? 401 : 403;
        case 'valid certificate of another service':
          if (endpoint === 'renew') return 201;
          return bearerOnly ? 401 : 403;
        default:
          return 401;
      }
    };

    const call = async (endpoint: Endpoint, c: Credential) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (c.bearer) headers.authorization = c.bearer;
      const tls = { ca: rootPem, ...(c.cert ?? {}) };
      switch (endpoint) {
        case 'sign':
          return httpsRequest(`${svc.url}/v1/sign`, { ...tls, method: 'POST', headers, body: JSON.stringify({ csr: (await makeCsr()).pem, name: 'm1', dnsNames: ['m1.acme.internal'] }) });
        case 'renew':
          return httpsRequest(`${svc.url}/v1/renew`, { ...tls, method: 'POST', headers, body: '{}' });
        case 'list':
          return httpsRequest(`${svc.url}/v1/certificates`, { ...tls, headers });
        case 'get':
          return httpsRequest(`${svc.url}/v1/certificates/${victim}`, { ...tls, headers });
        case 'revoke':
          return httpsRequest(`${svc.url}/v1/certificates/${victim}/revoke`, { ...tls, method: 'POST', headers, body: '{"reason":"keyCompromise"}' });
        case 'audit':
          return httpsRequest(`${svc.url}/v1/audit`, { ...tls, headers });
      }
    };

    it('every cell answers its expected status with a JSON error, none lets a caller through, none is 5xx', async () => {
      const leavesBefore = caJson<unknown[]>(['list', '--dir', dir, '--status', 'valid']).length;
      const cells: string[] = [];
      const wrong: string[] = [];
      for (const [name, credential] of creds) {
        for (const endpoint of ENDPOINTS) {
          const want = expected(name, endpoint);
          let got: number;
          let body: any;
          try {
            const r = await call(endpoint, credential);
            got = r.status;
            body = r.body ? r.json() : {};
          } catch (e) {
            // A TLS-level refusal is a refusal too, but the service never does that (it asks, never requires, a certificate).
            got = -1;
            body = { error: { code: (e as Error).message } };
          }
          cells.push(`${name} × ${endpoint}: ${got}`);
          if (got !== want) wrong.push(`${name} × ${endpoint}: expected ${want}, got ${got} ${JSON.stringify(body).slice(0, 160)}`);
          if (got >= 500) wrong.push(`${name} × ${endpoint}: 5xx`);
          if (got >= 400 && !(typeof body?.error?.code === 'string' && typeof body.error.message === 'string')) wrong.push(`${name} × ${endpoint}: no JSON error body`);
          if (want === 201 && got === 201) expect(body.spiffeId).toBe(`spiffe://${TD}/other-svc`); // renewed as itself, nobody else
        }
      }
      recordFigures('authorization', { backend, cells: cells.length, credentials: creds.size, endpoints: ENDPOINTS.length, wrong: wrong.length });
      expect(cells).toHaveLength(creds.size * ENDPOINTS.length);
      expect(wrong, wrong.join('\n')).toEqual([]);
      // Nothing the matrix refused changed the CA: the victim is not revoked, only the permitted renewal added a leaf.
      expect(caJson<Array<{ serial: string }>>(['list', '--dir', dir, '--status', 'revoked']).map((r) => r.serial)).not.toContain(victim);
      const afterValid = caJson<unknown[]>(['list', '--dir', dir, '--status', 'valid']).length;
      expect(afterValid).toBe(leavesBefore + 1);
    });
  });

  describe('typed scopes and reserved identities over the API', () => {
    let root: string;
    let dir: string;
    let svc: RunningCa;
    let rootPem: string;
    const keys = new Map<string, string>();

    // Each key's scopes, and which kinds of request identity they must let through.
    const KEYS: Array<[string, string, readonly Ask[]]> = [
      ['spiffe-typed', `issue:spiffe:spiffe://${TD}/**`, ['spiffe', 'spiffe lookalike']],
      ['dns-typed', 'issue:dns:**.acme.internal', ['dns']],
      ['ip-typed', 'issue:ip:10.0.0.0/8', ['ip']],
      ['dns-untyped', 'issue:*.acme.internal', ['dns']],
      ['ip-untyped', 'issue:10.0.0.*', ['ip']],
      ['all-typed', `issue:spiffe:spiffe://${TD}/**,issue:dns:**,issue:ip:0.0.0.0/0`, ['spiffe', 'spiffe lookalike', 'dns', 'dns lookalike', 'ip']],
    ];
    type Ask = 'spiffe' | 'spiffe lookalike' | 'dns' | 'dns lookalike' | 'ip' | 'reserved ca' | 'reserved other' | 'reserved upper case' | 'reserved trailing dot';
    // Requests whose identity text resembles another type, the way the review's attacks did.
    const ASKS: Record<Ask, Record<string, unknown>> = {
      spiffe: { spiffeId: `spiffe://${TD}/ns/prod/api` },
      'spiffe lookalike': { spiffeId: `spiffe://${TD}/ns/prod/admin.acme.internal` },
      dns: { dnsNames: ['api.acme.internal'] },
      'dns lookalike': { dnsNames: ['10.0.0.foo'] },
      ip: { ipAddresses: ['10.0.0.7'] },
      'reserved ca': { spiffeId: `spiffe://${TD}/meshca/ca` },
      'reserved other': { spiffeId: `spiffe://${TD}/meshca/ocsp` },
      // Lookalikes of the reserved prefix, to a person or a case-blind tool.
      'reserved upper case': { spiffeId: `spiffe://${TD}/MESHCA/ca` },
      'reserved trailing dot': { spiffeId: `spiffe://${TD}/meshca./ca` },
    };

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'meshca-typed-'));
      dir = join(root, 'ca');
      expect(ca(['init', '--dir', dir, '--name', 'Typed CA', '--trust-domain', TD, ...(await initArgs(backend))]).code).toBe(0);
      for (const [name, scopes] of KEYS) keys.set(name, ca(['apikey', 'create', '--dir', dir, '--name', name, '--scope', scopes]).stdout.trim());
      svc = await startCa(dir);
      rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    });
    afterAll(async () => {
      await svc?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    it('ok/every key type against every identity type: 201 only where the type matches; reserved IDs never, for any scope', async () => {
      const csr = (await makeCsr()).pem;
      const wrong: string[] = [];
      let cells = 0;
      for (const [name, , allowed] of KEYS) {
        for (const ask of Object.keys(ASKS) as Ask[]) {
          const r = await httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${keys.get(name)}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr, name: 'typed', ...ASKS[ask] }) });
          cells++;
          const code = r.status === 201 ? 'ok' : r.json().error.code;
          const reserved = ask.startsWith('reserved');
          // A scope broad enough to cover a reserved ID still cannot get it: policy refuses it for every caller.
          const coversReserved = name === 'spiffe-typed' || name === 'all-typed';
          const want = allowed.includes(ask) ? 'ok' : reserved && coversReserved ? 'ERR_IDENTITY_RESERVED' : 'ERR_IDENTITY_NOT_PERMITTED';
          if (code !== want) wrong.push(`${name} × ${ask}: expected ${want}, got ${r.status} ${code}`);
          if (r.status !== 201 && r.status !== 403) wrong.push(`${name} × ${ask}: status ${r.status}`);
        }
      }
      recordFigures('typed-scopes', { backend, cells, keys: KEYS.length, identities: Object.keys(ASKS).length, wrong: wrong.length });
      expect(wrong, wrong.join('\n')).toEqual([]);
      expect(caJson<Array<{ spiffeId: string | null }>>(['list', '--dir', dir]).filter((c) => /\/meshca\.*\//i.test(c.spiffeId ?? '') && c.spiffeId !== `spiffe://${TD}/meshca/ca`)).toEqual([]);
      // The only /meshca/ca leaves are the service's own (issued by system:serve).
      const audit = caJson<Array<{ actor: string; action: string; detail: { spiffeId?: string } | null }>>(['audit', '--dir', dir]);
      expect(audit.filter((r) => r.action === 'issue' && r.detail?.spiffeId?.includes('/meshca/')).map((r) => r.actor)).toEqual(['system:serve']);
    });

    it('ok/an untyped scope is stored as the typed one it means, and ca apikey create says so', () => {
      const r = ca(['apikey', 'create', '--dir', dir, '--name', 'noted', '--scope', 'issue:*,issue:10.0.0.*,list']);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toMatch(/^mca_/);
      expect(r.stderr).toContain('ca: note: scope "issue:*" is stored as "issue:dns:*"');
      expect(r.stderr).toContain('ca: note: scope "issue:10.0.0.*" is stored as "issue:ip:10.0.0.0/24"');
      expect(caJson<Array<{ name: string; scopes: string[] }>>(['apikey', 'list', '--dir', dir]).find((k) => k.name === 'noted')?.scopes).toEqual(['issue:dns:*', 'issue:ip:10.0.0.0/24', 'list']);
    });

    it('fail/a scope that names only reserved identities is refused when the key is made', () => {
      for (const scope of [`issue:spiffe:spiffe://${TD}/meshca/**`, `issue:spiffe://${TD}/meshca/ca`, `issue:spiffe:spiffe://${TD}/Meshca./*`]) {
        expectOneLineError(ca(['apikey', 'create', '--dir', dir, '--name', 'reserved-only', '--scope', scope]), 'ERR_SCOPE_INVALID', 'names only reserved identities');
      }
      expect(caJson<Array<{ name: string }>>(['apikey', 'list', '--dir', dir]).some((k) => k.name === 'reserved-only')).toBe(false);
    });

    it('fail/no token and no local issuance can carry a reserved identity', () => {
      for (const id of [`spiffe://${TD}/meshca/ca`, `spiffe://${TD}/meshca/anything/else`, `spiffe://${TD}/MeshCA/ca`]) {
        expectOneLineError(ca(['token', 'x', '--dir', dir, '--spiffe-id', id]), 'ERR_IDENTITY_RESERVED', 'reserved for meshca');
        expectOneLineError(ca(['issue', 'x', '--dir', dir, '--spiffe-id', id, '--cert-out', join(root, 'x.pem'), '--key-out', join(root, 'x.key'), '--force']), 'ERR_IDENTITY_RESERVED', 'reserved for meshca');
      }
    });

    it("fail/a token's certificate lifetime is a maximum: asking for more is refused, asking for less is granted", async () => {
      const token = (ttl?: string) => ca(['token', 'capped', '--dir', dir, '--dns', 'capped.acme.internal', ...(ttl ? ['--cert-ttl', ttl] : [])]).stdout.trim();
      const sign = async (bearer: string, ttl: string) =>
        httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: (await makeCsr()).pem, ttl }) });
      const longer = await sign(token('1h'), '7d');
      expect([longer.status, longer.json().error.code]).toEqual([400, 'ERR_TTL_TOO_LONG']);
      expect(longer.json().error.message).toContain('exceeds the 1h that the enrollment token allows');
      const shorter = await sign(token('1h'), '30m');
      expect(shorter.status).toBe(201);
      const life = Date.parse(shorter.json().notAfter) - Date.now();
      expect(life).toBeGreaterThan(25 * 60_000);
      expect(life).toBeLessThanOrEqual(30 * 60_000);
      // A token minted without --cert-ttl allows the CA's default (24h), not its maximum (7d).
      const defaulted = await sign(token(), '2d');
      expect([defaulted.status, defaulted.json().error.code]).toEqual([400, 'ERR_TTL_TOO_LONG']);
    });
  });
});
