// Hygiene an attacker on the same host or network would probe: file modes, names that drive a terminal, a closed
// pipe, compressed bodies, and slow or idle connections.

import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSealKey } from '../../src/audit/audit-key.js';
import { privateKeyFromPem } from '../../src/crypto/keys.js';
import { x509 } from '../../src/crypto/x509.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { CA_BIN, ca, caJson, openssl } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { makeCsr } from '../helpers/csr.js';

const TD = 'acme.internal';
const BIDI = '\u202e';
const C1 = '\u0085';
const ESC = '\u001b';

/** Resolves with how long until the server closed `socket` (or rejects after `limitMs`). */
function closedWithin(socket: Socket, limitMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('error', () => undefined);
    socket.resume(); // read (and drop) whatever the server sends, so its close is seen
    socket.on('close', () => {
      clearTimeout(t);
      resolve(Date.now() - started);
    });
  });
}

describe('hardening', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let rootPem: string;
  const out = (name: string) => join(root, name);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-hardening-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Hardened CA', '--trust-domain', TD]).code).toBe(0);
    svc = await startCa(dir, { args: ['--handshake-timeout', '1s', '--header-timeout', '1s', '--request-timeout', '2s', '--keep-alive-timeout', '1s', '--max-connections', '8'] });
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('ok/the CA directory is 0700 and every file in it 0600, the database journal and the lock of a running service included', async () => {
    const files = ['ca.db', 'ca.db-wal', 'ca.db-shm', 'serve.lock', 'config.json', 'root.pem', 'intermediate.pem', 'private/root.key', 'private/audit.key'];
    for (const f of files) {
      expect(existsSync(join(dir, f)), f).toBe(true);
      expect([f, (statSync(join(dir, f)).mode & 0o777).toString(8)]).toEqual([f, '600']);
    }
    for (const d of [dir, join(dir, 'private')]) expect((statSync(d).mode & 0o777).toString(8)).toBe('700');
  });

  it('fail/ca serve warns about looser modes it finds, naming them', async () => {
    const loose = join(root, 'loose');
    expect(ca(['init', '--dir', loose, '--name', 'Loose CA', '--trust-domain', TD]).code).toBe(0);
    chmodSync(loose, 0o755);
    chmodSync(join(loose, 'ca.db'), 0o644);
    const s = await startCa(loose);
    await s.stop();
    const warning = s.log().split('\n').find((l) => l.includes('other local users can read the CA directory'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, loose: expect.arrayContaining([`${loose} (0755, want 0700)`, `${join(loose, 'ca.db')} (0644, want 0600)`]) });
  });

  it.each([
    ['a bidi override', `pay${BIDI}lanigiro`],
    ['a C1 control', `pay${C1}`],
    ['an escape sequence', `pay${ESC}[31m`],
    ['DEL', 'pay\u007f'],
    ['a zero-width space', 'pay\u200bments'],
    ['a line separator', 'pay\u2028ments'],
  ])('fail/a certificate name with %s is refused by ca issue, ca token, the API and ca init', async (_n, name) => {
    expectOneLineError(ca(['issue', name, '--dir', dir, '--dns', 'pay.acme.internal', '--cert-out', out('x.pem'), '--key-out', out('x.key'), '--force']), 'ERR_NAME_INVALID', 'control, bidi or invisible characters');
    expectOneLineError(ca(['token', name, '--dir', dir, '--dns', 'pay.acme.internal']), 'ERR_NAME_INVALID', 'control, bidi or invisible characters');
    const key = ca(['apikey', 'create', '--dir', dir, '--name', `n${Math.random().toString(16).slice(2, 10)}`, '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
    const r = await httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: (await makeCsr()).pem, name, dnsNames: ['pay.acme.internal'] }) });
    expect([r.status, r.json().error.code]).toEqual([400, 'ERR_NAME_INVALID']);
    expectOneLineError(ca(['init', '--dir', out(`bad-${Math.random()}`), '--name', name, '--trust-domain', TD]), 'ERR_CONFIG_INVALID', 'control, bidi or invisible');
  });

  it('fail/a name with a lone surrogate (possible only in JSON) is refused by the API', async () => {
    const key = ca(['apikey', 'create', '--dir', dir, '--name', 'surrogates', '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
    const r = await httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: (await makeCsr()).pem, name: 'pay\ud800', dnsNames: ['pay.acme.internal'] }) });
    expect([r.status, r.json().error.code]).toEqual([400, 'ERR_NAME_INVALID']);
  });

  it('ok/names already stored (an older meshca, an edited database) and foreign certificates are printed escaped, never raw', async () => {
    expect(ca(['issue', 'plain', '--dir', dir, '--dns', 'plain.acme.internal', '--cert-out', out('plain.pem'), '--key-out', out('plain.key')]).code).toBe(0);
    const db = new Database(join(dir, 'ca.db'));
    db.prepare("UPDATE certificates SET common_name = ? WHERE common_name = 'plain'").run(`evil${ESC}]0;owned${ESC}\\${BIDI}gpj.exe`);
    db.close();
    const human = ca(['list', '--dir', dir]).stdout;
    expect(human).not.toContain(ESC);
    expect(human).not.toContain(BIDI);
    expect(human).toContain('evil\\u{1b}]0;owned\\u{1b}\\\\u{202e}gpj.exe');
    const json = ca(['list', '--dir', dir, '--json']).stdout;
    expect(json).not.toContain(BIDI);
    expect(JSON.parse(json).some((c: { name: string }) => c.name === `evil${ESC}]0;owned${ESC}\\${BIDI}gpj.exe`)).toBe(true);

    // A certificate made elsewhere, with a bidi override in its subject.
    const made = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', out('foreign.key'), '-out', out('foreign.pem'), '-days', '1', '-utf8', '-subj', `/CN=invoice${BIDI}fdp.exe`]);
    expect(made.code, made.stderr).toBe(0);
    const inspected = ca(['inspect', out('foreign.pem')]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).not.toContain(BIDI);
    expect(inspected.stdout).toContain('\\u{202e}');
  });

  it('ok/a foreign certificate whose subject and SAN hold newlines cannot forge lines of ca inspect', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    const forged = `payments\n\n    names    spiffe://${TD}/ns/prod/payments${ESC}[2J`;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: new x509.Name([{ '2.5.4.3': [{ utf8String: forged }] }]), notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), keys, signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `a\n    sha256   00:00` }])],
    });
    writeFileSync(out('forged.pem'), cert.toString('pem'));
    const shown = ca(['inspect', out('forged.pem')]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain(ESC);
    const lines = shown.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('    names '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('    sha256 '))).toHaveLength(1);
    expect(lines[0]).toContain('\\u{a}');
  });

  it('ok/a reader that closes the pipe early ends ca quietly: no EPIPE stack', async () => {
    const store = openSqliteStore(join(dir, 'ca.db'), { sealKey: auditSealKey(privateKeyFromPem(readFileSync(join(dir, 'private', 'audit.key'), 'utf8'), undefined, 'audit key')) });
    await store.appendAuditBatch(Array.from({ length: 3000 }, (_, i) => ({ at: new Date(), actor: 'test:filler', action: 'filler', target: String(i), outcome: 'ok' as const, detail: { padding: 'x'.repeat(40) } })));
    await store.close();
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CA_BIN}" audit --dir "${dir}" --limit 5000 --json | head -c 100 > /dev/null`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fail/a compressed or oddly encoded body is refused with 415 before authentication, and nothing reaches the log as an error', async () => {
    for (const [encoding, body] of [['gzip', gzipSync('{}')], ['gzip', Buffer.from('not gzip at all')], ['br', Buffer.from('x')], ['x-unknown', Buffer.from('{}')]] as const) {
      const r = await httpsRequest(`${svc.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body });
      expect([encoding, r.status, r.json().error.code]).toEqual([encoding, 415, 'ERR_BODY_ENCODING']);
    }
    expect(svc.log()).not.toMatch(/"level":50/);
  });

  it('fail/a path that is not percent-encoding, headers over 16 KiB and a request line that is not HTTP get a JSON 4xx naming what is wrong', async () => {
    for (const path of ['/v1/certificates/%ff', '/v1/certificates/%']) {
      const r = await httpsRequest(`${svc.url}${path}`, { ca: rootPem, headers: { authorization: 'Bearer x' } });
      expect([path, r.status, r.json().error.code]).toEqual([path, 400, 'ERR_PATH_INVALID']);
    }
    const raw = (request: string) => new Promise<string>((resolve) => {
      const s = netConnect(svc.httpPort, '127.0.0.1', () => s.write(request));
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('close', () => resolve(Buffer.concat(chunks).toString()));
      s.on('error', () => undefined);
    });
    const huge = await raw(`GET /ocsp/${'A'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1.1 431 /);
    expect(JSON.parse(huge.split('\r\n\r\n')[1]!).error.code).toBe('ERR_HEADERS_TOO_LARGE');
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1.1 400 /);
    expect(JSON.parse(garbage.split('\r\n\r\n')[1]!).error.code).toBe('ERR_BAD_REQUEST');
  });

  it('fail/a malformed API key, a malformed token and garbage are each reported as what they look like', async () => {
    const as = async (bearer: string) => {
      const r = await httpsRequest(`${svc.url}/v1/certificates`, { ca: rootPem, headers: { authorization: `Bearer ${bearer}` } });
      return [r.status, r.json().error.code, r.json().error.message];
    };
    expect(await as('mca_0123_short')).toEqual([401, 'ERR_APIKEY_INVALID', expect.stringContaining('API key is malformed')]);
    expect(await as('MCA-0123456789abcdef')).toEqual([401, 'ERR_APIKEY_INVALID', expect.stringContaining('API key is malformed')]);
    expect(await as('eyJhbGciOiJFUzI1NiJ9.e30.c2ln')).toEqual([401, 'ERR_TOKEN_INVALID', expect.stringContaining('enrollment token')]);
    expect(await as('hunter2')).toEqual([401, 'ERR_UNAUTHENTICATED', expect.stringContaining('neither a meshca API key')]);
  });

  it('fail/an unknown or malformed query parameter is refused, never ignored', async () => {
    for (const query of ['spiffeId=spiffe://acme.internal/x', 'status[a]=1', 'limit=5&revoked=1']) {
      const r = await httpsRequest(`${svc.url}/v1/certificates?${query}`, { ca: rootPem, headers: { authorization: 'Bearer x' } });
      expect([query, r.status, r.json().error.code]).toEqual([query, 400, 'ERR_QUERY_INVALID']);
    }
    const audit = await httpsRequest(`${svc.url}/v1/audit?from=1`, { ca: rootPem, headers: { authorization: 'Bearer x' } });
    expect([audit.status, audit.json().error.message]).toEqual([400, 'api: unknown query parameter "from" for /v1/audit (known: limit, after, before, order, actor, action, target, outcome, since, until)']);
  });

  it('fail/an idle TCP connection to the HTTPS listener is dropped after the handshake timeout', async () => {
    const socket = netConnect(svc.httpsPort, '127.0.0.1');
    expect(await closedWithin(socket, 6_000)).toBeLessThan(4_000);
  });

  it('fail/slow request headers on either listener are dropped after the header timeout', async () => {
    const plain = netConnect(svc.httpPort, '127.0.0.1', () => plain.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    expect(await closedWithin(plain, 6_000)).toBeLessThan(4_000);
    const tls = tlsConnect({ host: '127.0.0.1', port: svc.httpsPort, ca: rootPem, servername: 'localhost' }, () => tls.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    expect(await closedWithin(tls, 6_000)).toBeLessThan(4_000);
  });

  it('fail/clients that pipeline thousands of requests and never read are cut off before the answers pile up in memory', async () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${svc.child.pid}/status`, 'utf8'))![1]) / 1024;
    const before = rss();
    const flood = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2000);
    const sockets = Array.from({ length: 6 }, () => {
      const s = netConnect(svc.httpPort, '127.0.0.1', () => {
        s.pause(); // never read what comes back
        s.write(flood);
      });
      s.on('error', () => undefined);
      return s;
    });
    await new Promise((r) => setTimeout(r, 2000));
    const during = rss();
    const healthy = await fetch(`${svc.httpUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    expect(healthy.status).toBe(200);
    const closed = await Promise.all(sockets.map((s) => closedWithin(s, 5_000)));
    expect(closed.length).toBe(6);
    expect(during - before).toBeLessThan(100);
  });

  it('fail/past --max-connections a listener closes new connections at once, and serves again when some close', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => new Promise<Socket>((resolve) => {
      const s = netConnect(svc.httpPort, '127.0.0.1', () => resolve(s));
      s.on('error', () => undefined);
    })));
    await new Promise((r) => setTimeout(r, 100));
    const extra = netConnect(svc.httpPort, '127.0.0.1', () => extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let answered = false;
    extra.on('data', () => (answered = true));
    expect(await closedWithin(extra, 2_000)).toBeLessThan(1_000);
    expect(answered).toBe(false);
    held.forEach((s) => s.destroy());
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${svc.httpUrl}/healthz`)).status).toBe(200);
  });
});
