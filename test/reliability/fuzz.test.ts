// Property-based bad input against everything that parses network or disk data: a clear 4xx or a one-line CLI
// error every time, never a 5xx, a hang, a crash or a change to stored data. MESHCA_FUZZ_RUNS scales the runs.

import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, initArgs } from '../helpers/databases.js';
import { ca, caJson, runAsync, CA_BIN } from '../helpers/run.js';
import { startCa, type RunningCa } from '../helpers/service.js';
import { makeCsr } from '../helpers/csr.js';
import { call } from '../helpers/workload.js';
import { recordFigures } from '../helpers/figures.js';

const RUNS = Number(process.env.MESHCA_FUZZ_RUNS ?? 60);
const CLI_RUNS = Math.max(4, Math.round(RUNS / 8));
/** Time allowed per property: about 10 ms per HTTP case and 600 ms per CLI run, with room for a loaded machine. */
const HTTP_TIMEOUT = 60_000 + RUNS * 50;
const CLI_TIMEOUT = 60_000 + CLI_RUNS * 3_000;
const TD = 'acme.internal';

describe.each(BACKENDS)('%s', (backend) => {
  describe('fuzzing the parsers', () => {
    let root: string;
    let dir: string;
    let svc: RunningCa;
    let caPem: string;
    let key: string;
    let token: string;
    let goodCsr: { der: Buffer; pem: string };
    let before: string[];
    const counts: Record<string, number> = {};

    const serials = () => caJson<Array<{ serial: string; status: string }>>(['list', '--dir', dir]).map((c) => `${c.serial}:${c.status}`).sort();
    const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

    /** A 4xx with the JSON error shape (or 2xx where `allowOk`); anything else fails the property. */
    const clean = (r: { status: number; body: string }, allowOk = false) => {
      if (r.status >= 500) throw new Error(`5xx: ${r.status} ${r.body.slice(0, 200)}`);
      if (r.status < 400) {
        if (!allowOk) throw new Error(`let through: ${r.status} ${r.body.slice(0, 200)}`);
        return;
      }
      const e = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } };
      if (typeof e.error?.code !== 'string' || typeof e.error.message !== 'string') throw new Error(`no JSON error: ${r.body.slice(0, 200)}`);
    };

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'meshca-fuzz-'));
      dir = join(root, 'ca');
      expect(ca(['init', '--dir', dir, '--name', 'Fuzz CA', '--trust-domain', TD, ...(await initArgs(backend))]).code).toBe(0);
      key = ca(['apikey', 'create', '--dir', dir, '--name', 'fuzz', '--scope', 'issue:dns:fz-*.acme.internal,list,revoke']).stdout.trim();
      token = ca(['token', 'tok', '--dir', dir, '--dns', 'tok.acme.internal']).stdout.trim();
      expect(ca(['issue', 'anchor', '--dir', dir, '--dns', 'anchor.acme.internal', '--cert-out', join(root, 'a.pem'), '--key-out', join(root, 'a.key')]).code).toBe(0);
      svc = await startCa(dir, { args: ['--rate-limit', '100000'] });
      caPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      goodCsr = await makeCsr('ec-p256');
      before = serials();
    });
    afterAll(async () => {
      await svc?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    /** The CLI's answer to bad input: exit 1 and one line naming an error code (no stack, no crash exit 70). */
    const oneLineCliError = (r: { code: number; stdout: string; stderr: string }) => {
      if (r.code !== 1) throw new Error(`exit ${r.code}: ${r.stdout} ${r.stderr}`);
      if (r.stderr.trimEnd().split('\n').length !== 1 || !/\[ERR_[A-Z_]+\]/.test(r.stderr)) throw new Error(`not a one-line error: ${r.stderr}`);
    };
    const sign = (bearer: string, body: string | Buffer, extra: Record<string, string> = {}) =>
      call(`${svc.url}/v1/sign`, { method: 'POST', ca: caPem, headers: { authorization: bearer, 'content-type': 'application/json', ...extra }, body: body as string, timeoutMs: 10_000 });
    const validBody = (name: string) => JSON.stringify({ csr: goodCsr.pem, name, dnsNames: [`${name}.acme.internal`] });

    it('ok/bearer credentials: random, token-shaped, key-shaped and mutated real ones are refused with 401/403', async () => {
      const b64 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), maxLength: 60 });
      const mutate = (s: string) => fc.tuple(fc.nat(s.length - 1), fc.constantFrom(...'AZaz09-_.'.split(''))).map(([i, c]) => s.slice(0, i) + c + s.slice(i + 1)).filter((m) => m !== s);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
            fc.tuple(b64, b64, b64).map(([a, b, c]) => `${a}.${b}.${c}`),
            fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 16, maxLength: 16 }), b64).map(([id, s]) => `mca_${id}_${s}`),
            mutate(token),
            mutate(key),
          ),
          async (credential) => {
            const r = await sign(`Bearer ${credential}`, validBody('fz-a'));
            clean(r);
            if (r.status !== 401 && r.status !== 403) throw new Error(`status ${r.status} for a bad credential`);
          },
        ),
        { numRuns: RUNS },
      );
      counts['bearer credentials (tokens, API keys)'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/JSON bodies: arbitrary JSON and bytes are refused with 4xx', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.json({ maxDepth: 4 }), fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')), fc.dictionary(fc.constantFrom('csr', 'name', 'spiffeId', 'dnsNames', 'ipAddresses', 'ttl'), fc.jsonValue({ maxDepth: 2 })).map((o) => JSON.stringify(o))), async (body) => {
          clean(await sign(`Bearer ${key}`, body));
        }),
        { numRuns: RUNS },
      );
      counts['JSON bodies'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/CSRs: truncated and bit-flipped requests are refused with 4xx', async () => {
      const der = goodCsr.der;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.nat(der.length - 1).map((n) => der.subarray(0, n)),
            fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
              const b = Buffer.from(der);
              b[i]! ^= x;
              return b;
            }),
            fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          ),
          async (csr) => {
            const r = await sign(`Bearer ${key}`, JSON.stringify({ csr: pemOf(csr), name: 'fz-c', dnsNames: ['fz-c.acme.internal'] }));
            clean(r);
          },
        ),
        { numRuns: RUNS },
      );
      counts['CSRs'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/content encodings: known, unknown, stacked and corrupt encodings get 415 on every route, before authentication', async () => {
      const json = Buffer.from(validBody('fz-e'));
      const routes = ['/v1/sign', '/v1/renew', '/v1/certificates', '/v1/certificates/00aa/revoke', '/v1/nothing'];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...routes),
          fc.oneof(fc.constantFrom('gzip', 'deflate', 'br', 'x-gzip', 'compress', 'zstd', 'gzip, gzip', 'identity, gzip', 'GZIP'), fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.replace(/[^\x21-\x7e]/g, 'x'))),
          fc.oneof(fc.constant(json), fc.constant(gzipSync(json)), fc.constant(deflateSync(json)), fc.constant(brotliCompressSync(json)), fc.constant(gzipSync(json).subarray(0, 12)), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b))),
          fc.boolean(),
          async (route, encoding, body, authenticated) => {
            const r = await call(`${svc.url}${route}`, { method: route === '/v1/certificates' ? 'GET' : 'POST', ca: caPem, headers: { ...(authenticated ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', 'content-encoding': encoding }, body: body as unknown as string, timeoutMs: 10_000 });
            clean(r);
            if (encoding.trim().toLowerCase() !== 'identity' && r.status !== 415) throw new Error(`status ${r.status} for Content-Encoding ${encoding}: ${r.body.slice(0, 200)}`);
          },
        ),
        { numRuns: RUNS },
      );
      counts['content encodings'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/headers: arbitrary extra headers and content types never cause a 5xx', async () => {
      const tokenChars = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-0123456789'.split('')), minLength: 1, maxLength: 30 });
      const value = fc.string({ maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, '').trim());
      await fc.assert(
        fc.asyncProperty(fc.dictionary(tokenChars.filter((n) => !['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade', 'authorization'].includes(n)), value, { maxKeys: 6 }), async (headers) => {
          const r = await sign(`Bearer ${key}`, 'not json', headers);
          clean(r);
        }),
        { numRuns: RUNS },
      );
      counts['headers'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/path parameters: random serials in every certificate route are refused with 4xx', async () => {
      await fc.assert(
        // Empty, `.` and `..` are URL path syntax (they resolve to other routes), not parameters.
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 80 }).filter((s) => s !== '.' && s !== '..'), fc.constantFrom('get', 'revoke'), async (raw, route) => {
          const serial = encodeURIComponent(raw);
          const url = `${svc.url}/v1/certificates/${serial}${route === 'revoke' ? '/revoke' : ''}`;
          const r = await call(url, { method: route === 'revoke' ? 'POST' : 'GET', ca: caPem, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: route === 'revoke' ? '{}' : undefined });
          clean(r);
        }),
        { numRuns: RUNS },
      );
      counts['path parameters'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/OCSP over GET with random paths never answers 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 120 }), async (raw) => {
          const r = await fetch(`${svc.httpUrl}/ocsp/${encodeURIComponent(raw)}`);
          if (r.status >= 500) throw new Error(`5xx for ${raw}`);
          await r.arrayBuffer();
        }),
        { numRuns: RUNS },
      );
      counts['OCSP GET paths'] = RUNS;
    }, HTTP_TIMEOUT);

    it('ok/config files: arbitrary JSON in config.json gets a one-line CLI error, never a crash', async () => {
      const broken = join(root, 'broken');
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 200 }), fc.record({ name: fc.string(), trustDomain: fc.string(), keyType: fc.string(), defaultTtl: fc.string(), maxTtl: fc.string() }).map((o) => JSON.stringify(o))), async (config) => {
          rmSync(broken, { recursive: true, force: true });
          cpSync(dir, broken, { recursive: true });
          writeFileSync(join(broken, 'config.json'), config);
          const r = await runAsync(process.execPath, [CA_BIN, 'list', '--dir', broken]);
          if (r.code === 0) return; // a config that happens to be valid
          oneLineCliError(r);
        }),
        { numRuns: CLI_RUNS },
      );
      counts['config files (CLI)'] = CLI_RUNS;
    }, CLI_TIMEOUT);

    it('ok/PEM files given to the CLI: garbage, armored garbage and oversized files get one-line errors', async () => {
      const file = join(root, 'input.pem');
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b)),
            fc.tuple(fc.constantFrom('CERTIFICATE', 'CERTIFICATE REQUEST', 'X509 CRL', 'PRIVATE KEY'), fc.uint8Array({ maxLength: 300 })).map(([label, b]) => Buffer.from(`-----BEGIN ${label}-----\n${Buffer.from(b).toString('base64')}\n-----END ${label}-----\n`)),
          ),
          fc.constantFrom('inspect', 'issue'),
          async (content, verb) => {
            writeFileSync(file, content);
            const args = verb === 'inspect' ? ['inspect', file] : ['issue', 'fz-pem', '--dir', dir, '--dns', 'fz-pem.acme.internal', '--csr', file, '--cert-out', join(root, 'out.pem'), '--force'];
            const r = await runAsync(process.execPath, [CA_BIN, ...args]);
            oneLineCliError(r);
          },
        ),
        { numRuns: CLI_RUNS },
      );
      // Size limit: a sparse 65 MiB file is refused before it is read.
      writeFileSync(file, '');
      truncateSync(file, 65 * 1024 * 1024);
      const big = ca(['inspect', file]);
      expect(big.code).toBe(1);
      expect(big.stderr).toContain('larger than 64 MiB');
      counts['PEM files (CLI)'] = CLI_RUNS;
    }, CLI_TIMEOUT);

    it('ok/after all of it: nothing stored changed, no error was logged, and the service still answers', async () => {
      expect(serials()).toEqual(before);
      expect(svc.log()).not.toMatch(/"level":(50|60)/);
      const health = await fetch(`${svc.httpUrl}/healthz`);
      expect(health.status).toBe(200);
      recordFigures('fuzz', { backend, casesPerParser: counts });
    });
  });
});
