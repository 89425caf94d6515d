// `ca crl sync` against a CA that answers badly: a replayed older CRL set, stale or not-yet-valid CRLs, a set that
// leaves a level out, a server that trickles bytes, a CA that is down at start, and options given wrong. The CRLs
// are real (signed by a `ca init` directory's keys); a small node:http server on 127.0.0.1:0 serves what each test chooses.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadIssuer, type Issuer } from '../../src/authority/issuer.js';
import { fetchBytes } from '../../src/client/fetch.js';
import { wholeSeconds } from '../../src/crypto/clock.js';
import { readPemLabelled, toPem } from '../../src/crypto/pem.js';
import { signCrl } from '../../src/revocation/crl.js';
import { privateKeyFromPem } from '../../src/crypto/keys.js';
import { CA_BIN, ca, caJson, type RunResult } from '../helpers/run.js';

const TD = 'acme.internal';
const HOUR = 3600_000;

type Route = Buffer | string | ((req: IncomingMessage, res: ServerResponse) => void);

/** What a test's server answers, per path; every path asked for is recorded. */
interface FakeCa {
  url: string;
  routes: Map<string, Route>;
  asked: string[];
  /** When set, every connection is cut before an answer (the CA is down). */
  down: boolean;
}

const servers: Server[] = [];
const timers: NodeJS.Timeout[] = [];
const children: ChildProcess[] = [];

async function fakeCa(routes: Record<string, Route>): Promise<FakeCa> {
  const ca: FakeCa = { url: '', routes: new Map(Object.entries(routes)), asked: [], down: false };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    ca.asked.push(path);
    if (ca.down) return void req.socket.destroy();
    const route = ca.routes.get(path);
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end('{"error":{"code":"ERR_NOT_FOUND","message":"no such path"}}');
    }
    if (typeof route === 'function') return route(req, res);
    res.writeHead(200);
    res.end(route);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ca.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return ca;
}

/** A route that sends its headers, then one byte every `everyMs`, and never ends. */
const trickle = (everyMs: number) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/x-pem-file' });
  res.write('-');
  timers.push(setInterval(() => res.write('-'), everyMs));
};

/** Runs `ca` without blocking this process's event loop (the fake CA lives here); the child is killed after the test. */
function caChild(args: string[]): { child: ChildProcess; done: Promise<RunResult>; stderr: () => string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['CA_PASSPHRASE', 'MESHCA_DEBUG', 'MESHCA_API_KEY', 'MESHCA_TOKEN'].includes(k)));
  const child = spawn(process.execPath, [CA_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

const caRun = (args: string[]) => caChild(args).done;

const waitFor = async (what: string, check: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A one-line CLI failure with this exit code, error code and text. */
function expectFailure(r: RunResult, exit: number, code: string, text: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(exit);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).toContain(text);
  expect(r.stderr).toContain(`[${code}]`);
}

afterEach(() => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

describe('ca crl sync refuses what a hostile or broken CA serves', () => {
  let root: string;
  let dir: string;
  let bundle: string;
  let trustBundle: string;
  let rootIssuer: Issuer;
  let intermediate: Issuer;
  let intermediateSerial: string;
  const out = (f: string) => join(root, f);

  /** A CRL signed by `issuer` with the number and times given (no entries). */
  const craft = (issuer: Issuer, number: bigint, thisUpdate: Date, nextUpdate: Date): Buffer =>
    signCrl({ issuer: issuer.subject, issuerKeyId: issuer.keyId, signer: issuer.signer, thisUpdate: wholeSeconds(thisUpdate), nextUpdate: wholeSeconds(nextUpdate), number }, Buffer.alloc(0));
  const pem = (...ders: Buffer[]) => ders.map((d) => toPem('X509 CRL', d)).join('');
  /** The root's and the intermediate's CRLs as `ca crl --pem` signs them now (the intermediate's number grows each time). */
  const signedSet = (name: string): { pem: string; intermediate: bigint } => {
    const r = caJson<{ intermediate: { number: string } }>(['crl', '--dir', dir, '--pem', '--out', out(name)]);
    return { pem: readFileSync(out(name), 'utf8'), intermediate: BigInt(r.intermediate.number) };
  };
  let rootCrlDer: Buffer;
  /** The root's CRL as the CA publishes it (signed at init; `ca crl --dir` re-signs only the intermediates'). */
  const rootCrl = () => rootCrlDer;
  const sync = (server: FakeCa, file: string, ...extra: string[]) => caRun(['crl', 'sync', '--ca-url', server.url, '--ca-bundle', bundle, '--out', file, '--once', ...extra]);
  const serving = (allPem: Route, more: Record<string, Route> = {}) => fakeCa({ '/v1/trust-bundle': trustBundle, '/crl/all.pem': allPem, ...more });
  const at = (offsetMs: number) => new Date(Date.now() + offsetMs);

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'meshca-crl-sync-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Sync CA', '--trust-domain', TD]).code).toBe(0);
    bundle = join(dir, 'root.pem');
    trustBundle = readFileSync(bundle, 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8');
    const certificate = (file: string) => readPemLabelled(readFileSync(join(dir, file), 'utf8'), ['CERTIFICATE'], file)[0]!;
    const key = (file: string) => privateKeyFromPem(readFileSync(join(dir, 'private', file), 'utf8'), undefined, file);
    rootIssuer = loadIssuer(certificate('root.pem'), key('root.key'), 'root');
    intermediate = loadIssuer(certificate('intermediate.pem'), key('intermediate.key'), 'intermediate');
    expect(ca(['crl', '--dir', dir, '--pem', '--out', out('first.pem')]).code).toBe(0);
    rootCrlDer = readPemLabelled(readFileSync(out('first.pem'), 'utf8'), ['X509 CRL'], 'CRLs')[0]!;
    intermediateSerial = intermediate.certificate.serial;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  describe('rollback', () => {
    it('fail/a replayed older set (from before a revocation) is refused: the file keeps the revocation and --exec does not run', async () => {
      const issued = caJson<{ serial: string }>(['issue', 'victim', '--dir', dir, '--dns', `victim.${TD}`, '--cert-out', out('victim.pem'), '--key-out', out('victim.key')]);
      const before = signedSet('before.pem');
      expect(ca(['revoke', issued.serial, '--dir', dir]).code).toBe(0);
      const after = signedSet('after.pem');
      const server = await serving(after.pem);
      const file = out('rollback.pem');
      expect((await sync(server, file)).code).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe(after.pem);

      server.routes.set('/crl/all.pem', before.pem);
      const marker = out('rollback-reloaded');
      const r = await sync(server, file, '--exec', `touch ${marker}`);
      expectFailure(r, 1, 'ERR_CRL_ROLLBACK', `the CRL of intermediate ${intermediateSerial} from ${server.url}/crl/all.pem is #${before.intermediate}, older than #${after.intermediate} in ${file}`);
      expect(readFileSync(file, 'utf8')).toBe(after.pem);
      const revoked = (f: string) => caJson<Array<{ revoked: Array<{ serial: string }> }>>(['inspect', f]).flatMap((c) => c.revoked.map((e) => e.serial));
      expect(revoked(out('before.pem'))).not.toContain(issued.serial);
      expect(revoked(file)).toContain(issued.serial);
      expect(existsSync(marker)).toBe(false);
    });

    it('fail/a CRL with the number of the one on disk but other bytes is a rollback too; the same bytes are left as they are', async () => {
      const current = signedSet('same.pem');
      const server = await serving(current.pem);
      const file = out('same-sync.pem');
      expect((await sync(server, file)).code).toBe(0);
      expect(JSON.parse((await sync(server, file, '--json')).stdout)).toMatchObject({ changed: false });
      // Validly signed, same number, an hour older: not the CRL the file holds under that number.
      server.routes.set('/crl/all.pem', pem(rootCrl(), craft(intermediate, current.intermediate, at(-HOUR), at(23 * HOUR))));
      const r = await sync(server, file);
      expectFailure(r, 1, 'ERR_CRL_ROLLBACK', `is #${current.intermediate} like the one in ${file} but differs from it`);
      expect(readFileSync(file, 'utf8')).toBe(current.pem);
    });

    it('fail/--intermediate-only refuses an older intermediate CRL the same way', async () => {
      const older = signedSet('int-older.pem');
      const newer = signedSet('int-newer.pem');
      const der = (set: { pem: string }) => readPemLabelled(set.pem, ['X509 CRL'], 'set')[1]!;
      const server = await serving(newer.pem, { '/crl/intermediate.crl': der(newer) });
      const file = out('int-rollback.pem');
      expect((await sync(server, file, '--intermediate-only')).code).toBe(0);
      server.routes.set('/crl/intermediate.crl', der(older));
      expectFailure(await sync(server, file, '--intermediate-only'), 1, 'ERR_CRL_ROLLBACK', `is #${older.intermediate}, older than #${newer.intermediate}`);
      expect(readFileSync(file, 'utf8')).toBe(pem(der(newer)));
    });

    it('ok/the daemon logs a rollback, keeps the file and retries, then takes the next newer set', async () => {
      const older = signedSet('d-older.pem');
      const newer = signedSet('d-newer.pem');
      const file = out('daemon-rollback.pem');
      writeFileSync(file, newer.pem);
      const server = await serving(older.pem);
      const daemon = caChild(['crl', 'sync', '--ca-url', server.url, '--ca-bundle', bundle, '--out', file, '--interval', '1']);
      await waitFor('two refusals in the log', () => (daemon.stderr().match(/refusing a rollback/g) ?? []).length >= 2);
      expect(daemon.child.exitCode).toBe(null);
      expect(readFileSync(file, 'utf8')).toBe(newer.pem);
      const newest = signedSet('d-newest.pem');
      server.routes.set('/crl/all.pem', newest.pem);
      await waitFor('the newest set to be written', () => readFileSync(file, 'utf8') === newest.pem);
      daemon.child.kill('SIGTERM');
      expect((await daemon.done).code).toBe(0);
      expect(daemon.stderr()).toMatch(/could not update the CRLs \(cli: refusing a rollback: the CRL of intermediate \S+ from \S+ is #\d+, older than #\d+ in .*\); keeping /);
    });
  });

  describe('stale and not-yet-valid CRLs', () => {
    it.each([
      ['past its nextUpdate', -2 * HOUR, -HOUR, 'expired at'],
      ['with a thisUpdate an hour ahead', HOUR, 25 * HOUR, 'is not valid until'],
    ])('fail/an intermediate CRL %s is refused by ca crl sync and ca crl --ca-url, and nothing is written', async (_, from, to, text) => {
      const good = signedSet(`good-${from}.pem`);
      const server = await serving(good.pem);
      const file = out(`stale-${from}.pem`);
      expect((await sync(server, file)).code).toBe(0);
      const crl = craft(intermediate, good.intermediate + 1000n, at(from), at(to));
      server.routes.set('/crl/all.pem', pem(rootCrl(), crl));
      server.routes.set('/crl/intermediate.crl', crl);
      const r = await sync(server, file);
      expectFailure(r, 1, 'ERR_CRL_STALE', `the CRL of intermediate ${intermediateSerial} from ${server.url}/crl/all.pem ${text} `);
      expect(readFileSync(file, 'utf8')).toBe(good.pem);
      for (const extra of [['--pem'], []]) {
        const fetched = await caRun(['crl', '--ca-url', server.url, '--ca-bundle', bundle, '--out', out(`fetched-${from}`), ...extra]);
        expectFailure(fetched, 1, 'ERR_CRL_STALE', text);
        expect(existsSync(out(`fetched-${from}`))).toBe(false);
      }
    });

    it('fail/a stale root CRL is refused and named as the root\'s', async () => {
      const good = signedSet('good-root.pem');
      const intermediateCrl = readPemLabelled(good.pem, ['X509 CRL'], 'set')[1]!;
      const server = await serving(pem(craft(rootIssuer, 10_000n, at(-48 * HOUR), at(-HOUR)), intermediateCrl));
      const r = await sync(server, out('stale-root.pem'));
      expectFailure(r, 1, 'ERR_CRL_STALE', "the root's CRL from");
      expect(existsSync(out('stale-root.pem'))).toBe(false);
    });

    it('ok/a thisUpdate up to 5 minutes ahead (clock skew) is accepted', async () => {
      const good = signedSet('skew.pem');
      const server = await serving(pem(rootCrl(), craft(intermediate, good.intermediate + 2000n, at(2 * 60_000), at(24 * HOUR))));
      const r = await sync(server, out('skew-sync.pem'));
      expect(r.code, r.stderr).toBe(0);
    });
  });

  describe('incomplete sets', () => {
    it('fail/an all.pem with only the root\'s CRL is refused, naming the intermediate it lacks; the file is kept', async () => {
      const good = signedSet('complete.pem');
      const server = await serving(good.pem);
      const file = out('incomplete.pem');
      expect((await sync(server, file)).code).toBe(0);
      server.routes.set('/crl/all.pem', pem(rootCrl()));
      expectFailure(await sync(server, file), 1, 'ERR_CA_RESPONSE', `${server.url}/crl/all.pem is incomplete: it lacks the CRL of intermediate ${intermediateSerial}`);
      expect(readFileSync(file, 'utf8')).toBe(good.pem);
      // ca crl --ca-url --pem shares the check.
      expectFailure(await caRun(['crl', '--ca-url', server.url, '--ca-bundle', bundle, '--out', out('incomplete-fetched.pem'), '--pem']), 1, 'ERR_CA_RESPONSE', 'lacks the CRL of intermediate');
    });

    it('fail/an all.pem without the root\'s CRL, or with an intermediate\'s twice, is refused', async () => {
      const good = signedSet('twice.pem');
      const intermediateCrl = readPemLabelled(good.pem, ['X509 CRL'], 'set')[1]!;
      const server = await serving(pem(intermediateCrl));
      expectFailure(await sync(server, out('twice-sync.pem')), 1, 'ERR_CA_RESPONSE', "lacks the root's CRL");
      server.routes.set('/crl/all.pem', pem(rootCrl(), intermediateCrl, craft(intermediate, good.intermediate + 3000n, at(-60_000), at(HOUR))));
      expectFailure(await sync(server, out('twice-sync.pem')), 1, 'ERR_CA_RESPONSE', `holds 2 copies of the CRL of intermediate ${intermediateSerial}`);
      expect(existsSync(out('twice-sync.pem'))).toBe(false);
    });

    it('fail/--intermediate-only refuses the root\'s CRL served as /crl/intermediate.crl', async () => {
      const server = await serving(signedSet('int-only.pem').pem, { '/crl/intermediate.crl': rootCrl() });
      expectFailure(await sync(server, out('int-only-sync.pem'), '--intermediate-only'), 1, 'ERR_TLS_TRUST', `${server.url}/crl/intermediate.crl is the root's CRL`);
      expect(existsSync(out('int-only-sync.pem'))).toBe(false);
    });
  });

  describe('deadlines', () => {
    it('fail/fetchBytes with deadlineMs gives up on a server that trickles a byte at a time', { timeout: 15_000 }, async () => {
      const server = await fakeCa({ '/slow': trickle(200) });
      const started = Date.now();
      await expect(fetchBytes(`${server.url}/slow`, { deadlineMs: 1_000 })).rejects.toMatchObject({ code: 'ERR_CA_UNREACHABLE', message: expect.stringContaining('/slow did not answer within 1 s') });
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('fail/ca crl sync gives up on a trickling /crl/all.pem after 30 s in all, with the file unchanged', { timeout: 90_000 }, async () => {
      const good = signedSet('slow.pem');
      const server = await serving(good.pem);
      const file = out('slow-sync.pem');
      expect((await sync(server, file)).code).toBe(0);
      // A byte every 10 s: the idle timeout (30 s) never fires.
      server.routes.set('/crl/all.pem', trickle(10_000));
      const started = Date.now();
      const r = await sync(server, file);
      const took = Date.now() - started;
      expectFailure(r, 1, 'ERR_CA_UNREACHABLE', `/crl/all.pem did not answer within 30 s`);
      expect(took).toBeGreaterThan(29_000);
      expect(took).toBeLessThan(45_000);
      expect(readFileSync(file, 'utf8')).toBe(good.pem);
    });
  });

  describe('start-up', () => {
    it('ok/the daemon started while the CA is down logs, retries and writes the file once the CA answers', async () => {
      const good = signedSet('startup.pem');
      const server = await serving(good.pem);
      server.down = true;
      const file = out('startup-sync.pem');
      const daemon = caChild(['crl', 'sync', '--ca-url', server.url, '--ca-bundle', bundle, '--out', file, '--interval', '1']);
      await waitFor('two failed attempts in the log', () => (daemon.stderr().match(/could not update the CRLs/g) ?? []).length >= 2);
      expect(daemon.child.exitCode).toBe(null);
      expect(daemon.stderr()).toContain(`nothing written to ${file} yet`);
      expect(daemon.stderr()).toContain(`could not update the CRLs (client: cannot reach 127.0.0.1:`);
      server.down = false;
      await waitFor('the file to be written', () => existsSync(file) && readFileSync(file, 'utf8') === good.pem);
      daemon.child.kill('SIGTERM');
      expect((await daemon.done).code).toBe(0);
    });

    it('fail/with --once a CA down at start fails at once; usage errors fail at once in daemon mode too', async () => {
      const server = await serving('');
      server.down = true;
      expectFailure(await sync(server, out('down.pem')), 1, 'ERR_CA_UNREACHABLE', 'cannot reach');
      // No --once: a missing bundle file or a bad URL are the user's to fix, not something to retry.
      const daemon = (...args: string[]) => caRun(['crl', 'sync', '--out', out('daemon-usage.pem'), '--interval', '1', ...args]);
      expectFailure(await daemon('--ca-url', server.url, '--ca-bundle', out('no-such-root.pem')), 1, 'ERR_FILE_NOT_FOUND', 'no-such-root.pem does not exist');
      expectFailure(await daemon('--ca-url', 'not a url', '--ca-bundle', bundle), 2, 'ERR_USAGE', 'cli: --ca-url "not a url" is not a URL');
      const missing = await daemon('--ca-url', server.url);
      expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("--ca-bundle <file>' not specified")]);
    });
  });

  describe('options given wrong', () => {
    it('fail/--out naming the --ca-bundle file is refused before anything is fetched, however it is spelled', async () => {
      const copy = out('bundle-copy.pem');
      writeFileSync(copy, readFileSync(bundle));
      symlinkSync(copy, out('bundle-link.pem'));
      const server = await serving(signedSet('nits.pem').pem);
      for (const target of [copy, join(root, '.', 'bundle-copy.pem'), out('bundle-link.pem')]) {
        const r = await caRun(['crl', 'sync', '--ca-url', server.url, '--ca-bundle', copy, '--out', target, '--once']);
        expectFailure(r, 2, 'ERR_USAGE', 'is the --ca-bundle file');
        const fetched = await caRun(['crl', '--ca-url', server.url, '--ca-bundle', copy, '--out', target, '--pem']);
        expectFailure(fetched, 2, 'ERR_USAGE', 'is the --ca-bundle file');
      }
      expect(server.asked).toEqual([]);
      expect(readFileSync(copy).equals(readFileSync(bundle))).toBe(true);
    });

    it.each([
      ['not a url', 'is not a URL'],
      ['ftp://127.0.0.1/', 'is not an http:// or https:// URL'],
    ])('fail/--ca-url %j is a usage error that names the option', async (url, text) => {
      for (const args of [['crl', 'sync', '--once'], ['crl']]) {
        const r = await caRun([...args, '--ca-url', url, '--ca-bundle', bundle, '--out', out('bad-url.pem')]);
        expectFailure(r, 2, 'ERR_USAGE', `cli: --ca-url "${url}" ${text}`);
        expect(r.stderr).not.toContain('trust-bundle');
      }
    });
  });
});
