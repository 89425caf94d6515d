// CRLs and OCSP from a running `ca serve`, checked by OpenSSL, GnuTLS and curl as relying parties.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsnConvert, asn1Ocsp } from '../../src/crypto/x509.js';
import { ca, caJson, openssl } from '../helpers/run.js';
import { freePort, startCa, type RunningCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const TD = 'acme.internal';

function curl(args: string[]): { stdout: string; code: number } {
  const r = spawnSync('curl', ['-sS', ...args], { encoding: 'latin1' });
  return { stdout: r.stdout, code: r.status ?? -1 };
}

/** Polls `check` for up to `ms`; returns how long it took. Revocation must show within a second. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

describe('revocation publishing', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let publicUrl: string;
  const out = (f: string) => join(root, f);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-revocation-'));
    dir = join(root, 'ca');
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    expect(ca(['init', '--dir', dir, '--name', 'Revocation CA', '--trust-domain', TD, '--public-url', publicUrl]).code).toBe(0);
    svc = await startCa(dir, { httpPort: port });
    writeFileSync(out('bundle.pem'), readFileSync(join(dir, 'root.pem'), 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8'));
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const issue = (name: string) => caJson<{ serial: string }>(['issue', name, '--dir', dir, '--spiffe-id', `spiffe://${TD}/${name}`, '--dns', `${name}.acme.internal`, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`)]);
  const ocspOpenssl = (name: string, extra: string[] = []) =>
    openssl(['ocsp', '-issuer', join(dir, 'intermediate.pem'), '-cert', out(`${name}.pem`), '-url', `${publicUrl}/ocsp`, '-CAfile', join(dir, 'root.pem'), ...extra]);
  /** Fetches the intermediate CRL with curl and says whether OpenSSL reads `serial` in it. */
  const crlLists = (serial: string): boolean => {
    curl(['-o', out('latest.crl'), `${publicUrl}/crl/intermediate.crl`]);
    return openssl(['crl', '-in', out('latest.crl'), '-inform', 'DER', '-noout', '-text']).stdout.includes(`Serial Number: ${serial.toUpperCase()}`);
  };
  const ocspGnutls = (name: string) => spawnSync('ocsptool', ['--ask', '--load-issuer', join(dir, 'intermediate.pem'), '--load-cert', out(`${name}.pem`), '--load-trust', out('bundle.pem')], { encoding: 'utf8' });

  it('ok/openssl ocsp: good with and without nonce, revoked within a second of a local ca revoke, unknown for a never-issued serial', async () => {
    issue('alpha');
    const aia = openssl(['x509', '-in', out('alpha.pem'), '-noout', '-ocsp_uri']).stdout.trim();
    expect(aia).toBe(`${publicUrl}/ocsp`);
    for (const extra of [[], ['-no_nonce']]) {
      const r = ocspOpenssl('alpha', extra);
      expect(r.stderr).toContain('Response verify OK');
      expect(r.stdout).toContain(`${out('alpha.pem')}: good`);
      expect(r.stdout).toMatch(/Next Update: /);
    }
    const nonced = ocspOpenssl('alpha', ['-resp_text']);
    expect(nonced.stdout).toContain('OCSP Nonce');
    expect(nonced.stdout).toContain('Responder Id:');
    expect(nonced.stdout).toContain('OCSP Signing');
    expect(nonced.stdout).toContain('OCSP No Check');

    expect(ca(['revoke', '--cert', out('alpha.pem'), '--dir', dir, '--reason', 'keyCompromise']).code).toBe(0);
    // the cached, pre-signed (nonce-less) answer is the one that could lag: wait on it
    await within(1000, () => ocspOpenssl('alpha', ['-no_nonce']).stdout.includes(`${out('alpha.pem')}: revoked`));
    expect(ocspOpenssl('alpha').stdout).toContain(`${out('alpha.pem')}: revoked`);
    const revoked = ocspOpenssl('alpha', ['-no_nonce']);
    expect(revoked.stderr).toContain('Response verify OK');
    expect(revoked.stdout).toContain('Reason: keyCompromise');

    const unknown = openssl(['ocsp', '-issuer', join(dir, 'intermediate.pem'), '-serial', '0x4abcdef0123456789abcdef012345678', '-url', `${publicUrl}/ocsp`, '-CAfile', join(dir, 'root.pem')]);
    expect(unknown.stderr).toContain('Response verify OK');
    expect(unknown.stdout).toContain('0x4abcdef0123456789abcdef012345678: unknown');
  });

  it('ok/a newly issued certificate is answerable at once, and GnuTLS ocsptool agrees', async () => {
    issue('beta');
    const good = ocspGnutls('beta');
    expect(good.stdout).toMatch(/Certificate Status: good/);
    expect(good.stdout).toContain('Verifying OCSP Response: Success');
    expect(ca(['revoke', '--cert', out('beta.pem'), '--dir', dir, '--reason', 'superseded']).code).toBe(0);
    await within(1000, () => /Certificate Status: revoked/.test(ocspGnutls('beta').stdout));
    expect(ocspGnutls('beta').stdout).toContain('Verifying OCSP Response: Success');
  });

  it('ok/ca ocsp verifies the answer itself', () => {
    issue('gamma');
    const status = caJson<{ status: string; signedBy: string; responder: string }>(['ocsp', '--cert', out('gamma.pem'), '--ca-bundle', join(dir, 'root.pem')]);
    expect(status).toMatchObject({ status: 'good', signedBy: 'delegated responder', responder: `${publicUrl}/ocsp` });
    const stranger = join(tempDir(), 'stranger');
    ca(['init', '--dir', stranger, '--name', 'Stranger', '--trust-domain', TD]);
    const refused = ca(['ocsp', '--cert', out('gamma.pem'), '--ca-bundle', join(stranger, 'root.pem')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('does not chain to --ca-bundle [ERR_TLS_TRUST]');
  });

  it('ok/CRLs fetched with curl: openssl -crl_check_all refuses the revoked leaf, accepts the rest; the number grows', async () => {
    issue('keep');
    const drop = issue('drop');
    const fetchPem = () => curl([`${publicUrl}/crl/all.pem`]).stdout;
    const numberOf = () => BigInt(/CRL Number:\s*\n\s*(\d+)/.exec(openssl(['crl', '-in', out('int.crl'), '-inform', 'DER', '-noout', '-text']).stdout)![1]!);
    curl(['-o', out('int.crl'), `${publicUrl}/crl/intermediate.crl`]);
    const before = numberOf();
    expect(ca(['revoke', drop.serial, '--dir', dir, '--reason', 'cessationOfOperation']).code).toBe(0);
    await within(1000, () => crlLists(drop.serial));
    writeFileSync(out('crls.pem'), fetchPem());
    const verify = (name: string) => openssl(['verify', '-crl_check_all', '-CAfile', out('bundle.pem'), '-CRLfile', out('crls.pem'), out(`${name}.pem`)]);
    expect(verify('keep').stdout.trim()).toBe(`${out('keep.pem')}: OK`);
    const refused = verify('drop');
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('certificate revoked');
    curl(['-o', out('int.crl'), `${publicUrl}/crl/intermediate.crl`]);
    expect(numberOf()).toBeGreaterThan(before);
    const text = openssl(['crl', '-in', out('int.crl'), '-inform', 'DER', '-CAfile', out('bundle.pem'), '-noout']);
    expect(text.stderr).toContain('verify OK');
  });

  it('ok/a revocation over the API shows in CRL and OCSP within a second', async () => {
    const key = ca(['apikey', 'create', '--dir', dir, '--name', 'revoker', '--scope', 'revoke']).stdout.trim();
    const victim = issue('delta');
    expect(ca(['revoke', victim.serial, '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--api-key', key]).code).toBe(0);
    await within(1000, () => ocspOpenssl('delta', ['-no_nonce']).stdout.includes(`${out('delta.pem')}: revoked`));
    await within(1000, () => crlLists(victim.serial));
  });

  it('ok/ca crl --ca-url fetches and verifies; a foreign root is refused', () => {
    const r = caJson<{ intermediate: { number: string } }>(['crl', '--ca-url', publicUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('fetched.pem'), '--pem']);
    expect(Number(r.intermediate.number)).toBeGreaterThan(0);
    expect(readFileSync(out('fetched.pem'), 'utf8').match(/BEGIN X509 CRL/g)).toHaveLength(2);
    const viaHttps = ca(['crl', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--out', out('fetched.der')]);
    expect(viaHttps.code, viaHttps.stderr).toBe(0);
    const stranger = join(tempDir(), 'stranger');
    ca(['init', '--dir', stranger, '--name', 'Stranger', '--trust-domain', TD]);
    const refused = ca(['crl', '--ca-url', publicUrl, '--ca-bundle', join(stranger, 'root.pem'), '--out', out('x.pem')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[ERR_TLS_TRUST]');
  });

  it('ok/HTTP caching: CRL ETag and 304, OCSP GET cacheable with max-age inside nextUpdate', () => {
    const head = curl(['-D', '-', '-o', '/dev/null', `${publicUrl}/crl/intermediate.crl`]).stdout;
    expect(head).toMatch(/content-type: application\/pkix-crl/i);
    const etag = /etag: (".*")/i.exec(head)![1]!;
    expect(head).toMatch(/cache-control: public, max-age=\d+/i);
    expect(head).toMatch(/last-modified: /i);
    const again = curl(['-D', '-', '-o', '/dev/null', '-H', `If-None-Match: ${etag}`, `${publicUrl}/crl/intermediate.crl`]).stdout;
    expect(again).toMatch(/^HTTP\/1.1 304/);

    issue('epsilon');
    const req = openssl(['ocsp', '-issuer', join(dir, 'intermediate.pem'), '-cert', out('epsilon.pem'), '-no_nonce', '-reqout', out('req.der')]);
    expect(req.code).toBe(0);
    const b64 = encodeURIComponent(readFileSync(out('req.der')).toString('base64'));
    const first = curl(['-D', out('h1.txt'), '-o', out('r1.der'), `${publicUrl}/ocsp/${b64}`]);
    expect(first.code).toBe(0);
    curl(['-o', out('r2.der'), `${publicUrl}/ocsp/${b64}`]);
    const headers = readFileSync(out('h1.txt'), 'utf8');
    expect(headers).toMatch(/content-type: application\/ocsp-response/i);
    const maxAge = Number(/max-age=(\d+)/.exec(headers)![1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(headers).toMatch(/etag: "/i);
    // pre-signed: the same request gets the same bytes
    expect(readFileSync(out('r1.der')).equals(readFileSync(out('r2.der')))).toBe(true);
    const parsed = openssl(['ocsp', '-respin', out('r1.der'), '-issuer', join(dir, 'intermediate.pem'), '-CAfile', join(dir, 'root.pem'), '-resp_text']);
    expect(parsed.stderr).toContain('Response verify OK');
    expect(parsed.stdout).toContain('Cert Status: good');
  });

  it('never answers random or truncated OCSP input with anything but a well-formed OCSP response', async () => {
    issue('zeta');
    openssl(['ocsp', '-issuer', join(dir, 'intermediate.pem'), '-cert', out('zeta.pem'), '-reqout', out('zeta.req')]);
    const good = readFileSync(out('zeta.req'));
    const check = async (res: Response) => {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/ocsp-response');
      const body = Buffer.from(await res.arrayBuffer());
      const parsed = AsnConvert.parse(body, asn1Ocsp.OCSPResponse);
      expect([0, 1, 6]).toContain(parsed.responseStatus);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc.nat(good.length).map((n) => good.subarray(0, n)),
          fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const b = Buffer.from(good);
            b[i] = b[i]! ^ x;
            return b;
          }),
        ),
        async (der) => {
          await check(await fetch(`${publicUrl}/ocsp`, { method: 'POST', body: der, headers: { 'content-type': 'application/ocsp-request' } }));
          await check(await fetch(`${publicUrl}/ocsp/${encodeURIComponent(der.toString('base64'))}`));
        },
      ),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (junk) => {
        await check(await fetch(`${publicUrl}/ocsp/${encodeURIComponent(junk)}`));
      }),
      { numRuns: 100 },
    );
    expect(svc.log()).not.toMatch(/"level":50/);
  });
});

describe('large CRLs', () => {
  it('ok/100,000 revoked entries: generated by ca crl and parsed by OpenSSL', () => {
    const dir = join(tempDir(), 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Big CA', '--trust-domain', TD]).code).toBe(0);
    const akid = /X509v3 Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(openssl(['x509', '-in', join(dir, 'intermediate.pem'), '-noout', '-text']).stdout)![1]!.replace(/:/g, '').toLowerCase();
    // The fixture is the store's state after 100,000 revocations, written straight into the real database.
    const db = new Database(join(dir, 'ca.db'));
    const insert = db.prepare(
      "INSERT INTO certificates (serial, kind, issuer_key_id, common_name, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason) VALUES (?, 'leaf', ?, 'bulk', '[]', '[]', ?, ?, x'00', ?, ?)",
    );
    const now = Math.floor(Date.now() / 1000);
    const reasons = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'];
    db.transaction(() => {
      for (let i = 0; i < 100_000; i++) insert.run(`4${i.toString(16).padStart(31, '0')}`, akid, now - 60, now + 86400, now - (i % 3600), reasons[i % 4]!);
    })();
    db.close();
    const r = caJson<{ intermediate: { entries: number } }>(['crl', '--dir', dir, '--out', join(dir, '..', 'big.crl')]);
    expect(r.intermediate.entries).toBe(100_000);
    const text = openssl(['crl', '-in', join(dir, '..', 'big.crl'), '-inform', 'DER', '-noout', '-text']);
    expect(text.code).toBe(0);
    expect(text.stdout.match(/Serial Number: /g)).toHaveLength(100_000);
    const bundle = join(dir, '..', 'bundle.pem');
    writeFileSync(bundle, readFileSync(join(dir, 'root.pem'), 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8'));
    expect(openssl(['crl', '-in', join(dir, '..', 'big.crl'), '-inform', 'DER', '-CAfile', bundle, '-noout']).stderr).toContain('verify OK');
  });
});
