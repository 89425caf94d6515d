// End to end through the built `ca` binary, in temp directories, asserting on what an operator sees.

import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ca, caJson, type RunResult } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCsr } from '../helpers/csr.js';

const TD = 'acme.internal';

function initCa(options: { env?: Record<string, string>; args?: string[] } = {}): string {
  const root = tempDir();
  const dir = join(root, 'ca');
  const r = ca(['init', '--dir', dir, '--name', 'Acme Mesh', '--trust-domain', TD, ...(options.args ?? [])], { env: options.env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return dir;
}

/** Asserts a failure a user sees: one line on stderr naming the problem, no stack trace, the given exit code. */
function expectOneLineError(r: RunResult, code: string, text: string | RegExp, exit = 1): void {
  expect(r.code).toBe(exit);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : text);
  expect(lines[0]).toContain(`[${code}]`);
}

/** Everything stored, as the CLI reports it: certificates (any status) and the audit log. */
function snapshot(dir: string): string {
  return JSON.stringify([caJson(['list', '--dir', dir]), caJson(['audit', '--dir', dir])]);
}

function issue(dir: string, name: string, extra: string[] = [], env?: Record<string, string>) {
  const out = join(dir, '..');
  return caJson<{ serial: string; notBefore: string; notAfter: string; spiffeId: string | null; dnsNames: string[]; ipAddresses: string[] }>(
    ['issue', name, '--dir', dir, '--cert-out', join(out, `${name}.pem`), '--key-out', join(out, `${name}.key`), ...extra],
    { env },
  );
}

describe('ca init', () => {
  it('ok/creates root, intermediate, database and config: every file 0600, both folders 0700', () => {
    const dir = initCa();
    expect(readdirSync(dir).sort()).toEqual(['ca.db', 'config.json', 'intermediate.pem', 'private', 'root.pem']);
    expect(readdirSync(join(dir, 'private')).sort()).toEqual(['audit.key', 'intermediate.key', 'root.key', 'token.key']);
    for (const d of [dir, join(dir, 'private')]) expect(statSync(d).mode & 0o777).toBe(0o700);
    for (const f of ['ca.db', 'config.json', 'intermediate.pem', 'root.pem']) expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
    for (const k of ['root.key', 'intermediate.key', 'token.key', 'audit.key']) {
      expect(statSync(join(dir, 'private', k)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, 'private', k), 'utf8')).toContain('BEGIN PRIVATE KEY');
    }
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ name: 'Acme Mesh', trustDomain: TD, keyType: 'ec-p256', publicUrl: 'http://127.0.0.1:8080', defaultTtl: '24h', maxTtl: '7d' });
  });

  it('fail/refuses an existing CA directory and leaves it untouched', () => {
    const dir = initCa();
    const before = readFileSync(join(dir, 'root.pem'), 'utf8');
    const r = ca(['init', '--dir', dir, '--name', 'Other', '--trust-domain', 'other.internal']);
    expectOneLineError(r, 'ERR_CA_DIR_EXISTS', 'already exists and is not empty');
    expect(readFileSync(join(dir, 'root.pem'), 'utf8')).toBe(before);
  });

  it.each([
    ['fail/bad trust domain', ['--trust-domain', 'Acme Internal'], 'ERR_TRUST_DOMAIN_INVALID', 'is not a valid trust domain'],
    ['fail/unknown key type', ['--trust-domain', TD, '--key-type', 'dsa-1024'], 'ERR_KEY_TYPE_UNSUPPORTED', 'unknown key type "dsa-1024"'],
    ['fail/bad duration', ['--trust-domain', TD, '--default-ttl', 'a day'], 'ERR_DURATION_INVALID', '"a day" is not a duration'],
    ['fail/default above max', ['--trust-domain', TD, '--default-ttl', '30d'], 'ERR_CONFIG_INVALID', 'longer than the max TTL'],
    ['fail/bad public URL', ['--trust-domain', TD, '--public-url', 'ftp://x'], 'ERR_CONFIG_INVALID', 'must be http(s)'],
  ])('%s: nothing is created', (_n, args, code, text) => {
    const dir = join(tempDir(), 'ca');
    const r = ca(['init', '--dir', dir, '--name', 'Acme', ...args]);
    // A value the command line got wrong (a duration) is a usage error: exit 2.
    expectOneLineError(r, code, text, code === 'ERR_DURATION_INVALID' ? 2 : 1);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(dir, '..'))).toEqual([]);
  });

  it('fail/a missing required option is a usage error (exit 2)', () => {
    const r = ca(['init', '--dir', join(tempDir(), 'ca'), '--name', 'Acme']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--trust-domain <domain>' not specified");
  });
});

describe('ca issue', () => {
  it('ok/generates a key (0600) and writes leaf + intermediate; --json has the documented fields', () => {
    const dir = initCa();
    const out = join(dir, '..');
    const leaf = issue(dir, 'api', ['--spiffe-id', `spiffe://${TD}/ns/prod/api`, '--dns', 'api.acme.internal', '--dns', 'api', '--ip', '10.1.2.3', '--ttl', '2h']);
    expect(Object.keys(leaf).sort()).toEqual(['dnsNames', 'ipAddresses', 'notAfter', 'notBefore', 'serial', 'spiffeId']);
    expect(leaf.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(leaf.spiffeId).toBe(`spiffe://${TD}/ns/prod/api`);
    expect(leaf.dnsNames).toEqual(['api.acme.internal', 'api']);
    expect(leaf.ipAddresses).toEqual(['10.1.2.3']);
    expect(Date.parse(leaf.notAfter) - Date.parse(leaf.notBefore)).toBe(2 * 3600_000 + 60_000);
    expect(leaf.notAfter).toMatch(/:\d\d\.000Z$/);
    const pem = readFileSync(join(out, 'api.pem'), 'utf8');
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(pem.endsWith(readFileSync(join(dir, 'intermediate.pem'), 'utf8'))).toBe(true);
    expect(statSync(join(out, 'api.key')).mode & 0o777).toBe(0o600);
  });

  it('ok/signs a CSR and takes no names from it', async () => {
    const dir = initCa();
    const out = join(dir, '..');
    const csr = await makeCsr('ec-p256', { dnsNames: ['evil.example.com'] });
    writeFileSync(join(out, 'req.csr'), csr.pem);
    const leaf = caJson<{ dnsNames: string[] }>(['issue', 'api', '--dir', dir, '--csr', join(out, 'req.csr'), '--dns', 'api.acme.internal', '--cert-out', join(out, 'api.pem')]);
    expect(leaf.dnsNames).toEqual(['api.acme.internal']);
    const shown = caJson<Array<{ dnsNames: string[]; type: string }>>(['inspect', join(out, 'api.pem')]);
    expect(shown[0]!.dnsNames).toEqual(['api.acme.internal']);
  });

  it('fail/each bad input gets its own message and changes nothing stored', async () => {
    const dir = initCa();
    const out = join(dir, '..');
    issue(dir, 'existing', ['--dns', 'existing.acme.internal']);
    const before = snapshot(dir);
    const good = await makeCsr('ec-p256');
    const tampered = Buffer.from(good.der);
    tampered[tampered.indexOf(Buffer.from('requested'))] = 0x52;
    writeFileSync(join(out, 'garbage.csr'), '-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END CERTIFICATE REQUEST-----\n');
    writeFileSync(join(out, 'tampered.csr'), tampered);
    const base = ['issue', 'x', '--dir', dir, '--cert-out', join(out, 'x.pem')];
    const cases: Array<[string[], string, string]> = [
      [['--csr', join(out, 'garbage.csr')], 'ERR_CSR_MALFORMED', 'the CSR is not a well-formed PKCS#10 request'],
      [['--csr', join(out, 'tampered.csr')], 'ERR_CSR_SIGNATURE', 'CSR signature does not verify'],
      [['--csr', join(out, 'nope.csr')], 'ERR_FILE_NOT_FOUND', 'does not exist'],
      [['--key-out', join(out, 'x.key'), '--spiffe-id', 'spiffe://evil.internal/x'], 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN', "outside this CA's trust domain acme.internal"],
      [['--key-out', join(out, 'x.key'), '--spiffe-id', 'spiffe://acme.internal/x?y'], 'ERR_SPIFFE_ID_INVALID', 'query and fragment are not allowed'],
      [['--key-out', join(out, 'x.key'), '--dns', 'bad_name'], 'ERR_DNS_NAME_INVALID', '"bad_name" is not a valid DNS name'],
      [['--key-out', join(out, 'x.key'), '--ip', '1.2.3.999'], 'ERR_IP_ADDRESS_INVALID', 'not an IPv4 or IPv6 address'],
      [['--key-out', join(out, 'x.key'), '--dns', 'x.acme.internal', '--key-type', 'ec-p192'], 'ERR_KEY_TYPE_UNSUPPORTED', 'unknown key type "ec-p192"'],
      [['--key-out', join(out, 'x.key'), '--dns', 'x.acme.internal', '--ttl', '30d'], 'ERR_TTL_TOO_LONG', "exceeds this CA's maximum of 7d"],
      [['--key-out', join(out, 'x.key')], 'ERR_NAME_REQUIRED', 'needs at least one name'],
      [['--dns', 'x.acme.internal'], 'ERR_USAGE', '--key-out FILE is required'],
      [['--key-out', join(out, 'existing.key'), '--dns', 'x.acme.internal'], 'ERR_FILE_WRITE', 'already exists; pass --force'],
    ];
    for (const [args, code, text] of cases) {
      expectOneLineError(ca([...base, ...args]), code, text, code === 'ERR_USAGE' ? 2 : 1);
    }
    expect(snapshot(dir)).toBe(before);
    expect(existsSync(join(out, 'x.pem'))).toBe(false);
  });

  it('fail/missing or corrupt CA directory and database', () => {
    const dir = initCa();
    const out = join(dir, '..');
    expectOneLineError(ca(['list', '--dir', join(out, 'nothing-here')]), 'ERR_CA_DIR_MISSING', 'does not exist');
    writeFileSync(join(dir, 'ca.db'), 'garbage'.repeat(1000));
    expectOneLineError(ca(['list', '--dir', dir]), 'ERR_STORE_CORRUPT', 'is not a readable meshca database');
    expect(readFileSync(join(dir, 'ca.db'), 'utf8')).toBe('garbage'.repeat(1000));
    writeFileSync(join(dir, 'config.json'), '{"version": 1, "name": "x"');
    expectOneLineError(ca(['list', '--dir', dir]), 'ERR_CONFIG_INVALID', 'is not valid JSON');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 1, name: 'x', trustDomain: 'UPPER' }));
    expectOneLineError(ca(['list', '--dir', dir]), 'ERR_CONFIG_INVALID', '"trustDomain"');
  });
});

describe('passphrase-protected keys', () => {
  it('ok/keys are encrypted PKCS#8 and every signing command needs the passphrase', () => {
    const env = { CA_PASSPHRASE: 'correct horse battery' };
    const dir = initCa({ env });
    const out = join(dir, '..');
    for (const k of ['root.key', 'intermediate.key']) expect(readFileSync(join(dir, 'private', k), 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const before = snapshot(dir);
    const args = ['issue', 'api', '--dir', dir, '--dns', 'api.acme.internal', '--cert-out', join(out, 'api.pem'), '--key-out', join(out, 'api.key')];
    expectOneLineError(ca(args), 'ERR_PASSPHRASE_REQUIRED', 'is encrypted: set CA_PASSPHRASE or pass --passphrase-file');
    expectOneLineError(ca(args, { env: { CA_PASSPHRASE: 'wrong horse' } }), 'ERR_PASSPHRASE_WRONG', 'wrong passphrase for the intermediate CA key');
    expectOneLineError(ca(['crl', '--dir', dir, '--out', join(out, 'crl.der')]), 'ERR_PASSPHRASE_REQUIRED', 'is encrypted');
    expect(snapshot(dir)).toBe(before);
    expect(existsSync(join(out, 'api.pem'))).toBe(false);
    writeFileSync(join(out, 'pass.txt'), 'correct horse battery\n');
    expect(ca([...args, '--passphrase-file', join(out, 'pass.txt')]).code).toBe(0);
    expect(ca(['list', '--dir', dir]).code).toBe(0); // reading the inventory needs no key
  });

  it('fail/a passphrase shorter than 8 characters is refused at init', () => {
    const dir = join(tempDir(), 'ca');
    expectOneLineError(ca(['init', '--dir', dir, '--name', 'A', '--trust-domain', TD], { env: { CA_PASSPHRASE: 'short' } }), 'ERR_CONFIG_INVALID', 'at least 8 characters');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('ca list, revoke, audit', () => {
  it('ok/list filters, revoke by serial and by file, revoking twice says so and changes nothing', async () => {
    const dir = initCa();
    const out = join(dir, '..');
    const a = issue(dir, 'a', ['--dns', 'a.acme.internal', '--ttl', '1h']);
    const b = issue(dir, 'b', ['--dns', 'b.acme.internal']);
    const c = issue(dir, 'c', ['--spiffe-id', `spiffe://${TD}/c`, '--ttl', '1s']);

    const all = caJson<Array<Record<string, unknown>>>(['list', '--dir', dir]);
    expect(all).toHaveLength(3);
    expect(Object.keys(all[0]!).sort()).toEqual(['dnsNames', 'ipAddresses', 'name', 'notAfter', 'notBefore', 'reason', 'renewedFrom', 'renewedTo', 'requestedBy', 'revokedAt', 'serial', 'spiffeId', 'status'].sort());

    const revoked = caJson<{ serial: string; reason: string; alreadyRevoked: boolean }>(['revoke', b.serial, '--dir', dir, '--reason', 'keyCompromise']);
    expect(revoked).toMatchObject({ serial: b.serial, reason: 'keyCompromise', alreadyRevoked: false });
    const again = ca(['revoke', '--cert', join(out, 'b.pem'), '--dir', dir, '--reason', 'superseded']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${b.serial} was already revoked`);
    expect(again.stdout).toContain('nothing changed');
    expect(caJson<Array<{ reason: string }>>(['list', '--dir', dir, '--status', 'revoked']).map((r) => [r.reason])).toEqual([['keyCompromise']]);

    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(c.notAfter) - Date.now() + 1100)));
    expect(caJson<Array<{ serial: string }>>(['list', '--dir', dir, '--expiring-within', '2h']).map((r) => r.serial)).toEqual([a.serial]);
    expect(caJson<Array<{ serial: string; status: string }>>(['list', '--dir', dir, '--status', 'expired'])).toEqual([expect.objectContaining({ serial: c.serial, status: 'expired' })]);
    expect(caJson<Array<{ serial: string }>>(['list', '--dir', dir, '--status', 'valid']).map((r) => r.serial)).toEqual([a.serial]);

    const human = ca(['list', '--dir', dir]).stdout;
    expect(human.split('\n')[0]).toMatch(/^SERIAL\s+NAME\s+STATUS\s+NOT AFTER\s+IDENTITIES\s+REQUESTED BY\s+LINEAGE$/);
    expect(human).toContain(b.serial);

    const log = caJson<Array<{ action: string; outcome: string; target: string; actor: string }>>(['audit', '--dir', dir]);
    expect(log.map((r) => `${r.action}:${r.outcome}`)).toEqual(['init-root:ok', 'init-intermediate:ok', 'root-crl:ok', 'issue:ok', 'issue:ok', 'issue:ok', 'revoke:ok', 'key-block:ok', 'revoke:noop']);
    expect(log[6]!.target).toBe(b.serial);
    expect(log[0]!.actor).toMatch(/^local:/);
  });

  it.each([
    [['revoke', 'abcd', '--reason', 'certificateHold'], 'ERR_REVOCATION_REASON_INVALID', 'holds are not supported'],
    [['revoke', 'abcd', '--reason', 'because'], 'ERR_REVOCATION_REASON_INVALID', 'unknown reason "because"'],
    [['revoke', '0abc'], 'ERR_CERTIFICATE_NOT_FOUND', 'no certificate with serial 0abc'],
    [['revoke'], 'ERR_USAGE', 'give either a SERIAL or --cert FILE'],
    [['list', '--status', 'weird'], 'ERR_USAGE', 'unknown status "weird"'],
    [['revoke', 'zz'], 'ERR_USAGE', '"zz" is not a serial number'],
    [['list', '--frobnicate'], 'ERR_USAGE', "unknown option '--frobnicate'"],
  ])('fail/%j', (args, code, text) => {
    const dir = initCa();
    const before = snapshot(dir);
    expectOneLineError(ca([...args, '--dir', dir]), code, text, code === 'ERR_USAGE' || code === 'ERR_REVOCATION_REASON_INVALID' ? 2 : 1);
    expect(snapshot(dir)).toBe(before);
  });
});

describe('ca renew-now', () => {
  type Rule = { id: number; selector: Record<string, unknown>; suggestedWindow: { start: string; end: string }; explanationURL?: string; matching: number };

  it('ok/each selector records a rule with a window from now, counts what it covers, and is audited; no passphrase needed', () => {
    const dir = initCa();
    const a = issue(dir, 'a', ['--spiffe-id', `spiffe://${TD}/ns/prod/a`]);
    issue(dir, 'b', ['--dns', 'b.acme.internal']);
    const human = ca(['renew-now', '--dir', dir, '--all']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^renew-now rule 1 for every leaf \(issued until now\): renew between \S+Z and \S+Z\n  it covers 2 unexpired certificates/);
    expect(human.stdout).toContain('`ca renew --daemon` and meshca/tls sources pick it up from the push stream at once, else at their next renewal-info poll');
    const bySerial = caJson<Rule>(['renew-now', '--dir', dir, '--serial', a.serial.toUpperCase(), '--within', '1h', '--explanation-url', 'https://status.acme.internal/42']);
    expect(bySerial).toMatchObject({ id: 2, selector: { serial: a.serial }, explanationURL: 'https://status.acme.internal/42', matching: 1 });
    expect(Date.parse(bySerial.suggestedWindow.end) - Date.parse(bySerial.suggestedWindow.start)).toBe(3600_000);
    expect(caJson<Rule>(['renew-now', '--dir', dir, '--identity', `spiffe://${TD}/ns/prod/*`])).toMatchObject({ id: 3, selector: { identity: `spiffe:spiffe://${TD}/ns/prod/*` }, matching: 1 });
    expect(caJson<Rule>(['renew-now', '--dir', dir, '--issued-before', '2000-01-01T00:00:00Z'])).toMatchObject({ id: 4, selector: { issuedBefore: '2000-01-01T00:00:00.000Z' }, matching: 0 });
    const audit = caJson<Array<{ action: string; target: string | null; detail: { adviceId?: number } | null }>>(['audit', '--dir', dir]).filter((r) => r.action === 'renew-now');
    expect(audit.map((r) => [r.detail?.adviceId, r.target])).toEqual([[1, null], [2, a.serial], [3, null], [4, null]]);
  });

  it.each<[string, string[], string, string, number?]>([
    ['fail/no selector', [], 'ERR_USAGE', 'give exactly one of --serial S, --identity PATTERN, --issued-before TIME or --all (got none)', 2],
    ['fail/two selectors', ['--all', '--identity', 'dns:*.acme.internal'], 'ERR_USAGE', '(got --identity, --all)', 2],
    ['fail/a serial given twice', ['--serial', '4a', '--serial', '4b'], 'ERR_USAGE', 'it is given once', 2],
    ['fail/not a serial', ['--serial', 'xyz'], 'ERR_USAGE', 'is not a serial number', 2],
    ['fail/an unknown serial', ['--serial', '4abcdef'], 'ERR_CERTIFICATE_NOT_FOUND', 'no leaf certificate with serial 04abcdef', 1],
    ['fail/a bad pattern', ['--identity', 'dns:a..b'], 'ERR_PATTERN_INVALID', 'is not an identity pattern', 2],
    ['fail/a time without a zone', ['--issued-before', '2026-06-15T12:00:00'], 'ERR_ADVICE_INVALID', 'is not an ISO 8601 time with a zone', 2],
    ['fail/a bad duration', ['--all', '--within', 'soon'], 'ERR_DURATION_INVALID', 'is not a duration', 2],
    ['fail/a window too long', ['--all', '--within', '8d'], 'ERR_ADVICE_INVALID', 'the window must last from 1 second to 7 days', 2],
    ['fail/an explanation URL that is not http(s)', ['--all', '--explanation-url', 'file:///etc/passwd'], 'ERR_ADVICE_INVALID', 'must be https:// or http://', 2],
    ['fail/--dir and --ca-url', ['--all', '--ca-url', 'https://127.0.0.1:1'], 'ERR_USAGE', 'not both', 2],
  ])('%s', (_name, args, code, text, exit) => {
    const dir = initCa();
    const before = snapshot(dir);
    expectOneLineError(ca(['renew-now', '--dir', dir, ...args]), code, text, exit);
    expect(snapshot(dir)).toBe(before);
  });
});

describe('ca crl and ca inspect', () => {
  it('ok/DER CRL of the intermediate, PEM CRLs of every level, numbers growing', () => {
    const dir = initCa();
    const out = join(dir, '..');
    const a = issue(dir, 'a', ['--dns', 'a.acme.internal']);
    ca(['revoke', a.serial, '--dir', dir, '--reason', 'superseded']);
    const der = caJson<{ intermediate: { number: string; entries: number } }>(['crl', '--dir', dir, '--out', join(out, 'crl.der')]);
    expect(der.intermediate).toMatchObject({ entries: 1 });
    expect(readFileSync(join(out, 'crl.der'))[0]).toBe(0x30);
    const pem = caJson<{ intermediate: { number: string }; root: { number: string } }>(['crl', '--dir', dir, '--out', join(out, 'crl.pem'), '--pem']);
    expect(BigInt(pem.intermediate.number)).toBeGreaterThan(BigInt(der.intermediate.number));
    const text = readFileSync(join(out, 'crl.pem'), 'utf8');
    expect(text.match(/-----BEGIN X509 CRL-----/g)).toHaveLength(2);
    const shown = caJson<Array<{ type: string; crlNumber: string; revoked: Array<{ serial: string; reason: string }> }>>(['inspect', join(out, 'crl.pem')]);
    expect(shown.map((s) => [s.type, s.crlNumber, s.revoked.length])).toEqual([['crl', pem.root.number, 0], ['crl', pem.intermediate.number, 1]]);
    expect(shown[1]!.revoked[0]).toMatchObject({ serial: a.serial, reason: 'superseded' });
    const single = caJson<{ type: string; revoked: unknown[] }>(['inspect', join(out, 'crl.der')]);
    expect(single.type).toBe('crl');
  });

  it('ok/inspect shows identities, validity, serial, extensions and fingerprint of a chain', () => {
    const dir = initCa();
    const out = join(dir, '..');
    const a = issue(dir, 'api', ['--spiffe-id', `spiffe://${TD}/api`, '--dns', 'api.acme.internal']);
    const r = ca(['inspect', join(out, 'api.pem')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`serial   ${a.serial}`);
    expect(r.stdout).toContain(`spiffe://${TD}/api, api.acme.internal`);
    expect(r.stdout).toMatch(/sha256\s+([0-9a-f]{2}:){31}[0-9a-f]{2}/);
    expect(r.stdout).toContain('ext      subjectAltName');
    const shown = caJson<Array<{ isCa: boolean; spiffeId: string | null; extensions: Array<{ name: string | null; critical: boolean }> }>>(['inspect', join(out, 'api.pem')]);
    expect(shown.map((s) => s.isCa)).toEqual([false, true]);
    expect(shown[0]!.spiffeId).toBe(`spiffe://${TD}/api`);
    expect(shown[0]!.extensions).toContainEqual({ oid: '2.5.29.19', name: 'basicConstraints', critical: true });
  });

  it('fail/inspect of something that is not PKI', () => {
    const f = join(tempDir(), 'junk.bin');
    writeFileSync(f, Buffer.from('not a certificate at all'));
    expectOneLineError(ca(['inspect', f]), 'ERR_DER_INVALID', 'holds no certificate, CSR or CRL');
    writeFileSync(f, '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n');
    expectOneLineError(ca(['inspect', f]), 'ERR_PEM_INVALID', 'not valid base64');
  });
});

describe('usage errors under --json', () => {
  it('fail/an unknown option, a missing argument and a bad serial print the JSON error on stdout and one line on stderr, exit 2', () => {
    for (const args of [['list', '--dir', 'x', '--frobnicate', '--json'], ['token', '--json'], ['revoke', 'zz', '--dir', 'x', '--json']]) {
      const r = ca(args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      expect(JSON.parse(r.stdout).error.code).toBe('ERR_USAGE');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/\[ERR_USAGE\]$/m);
    }
  });
});
