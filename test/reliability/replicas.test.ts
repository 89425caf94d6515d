// Several `ca serve` replicas on one PostgreSQL database: one token spent once, revocations and revoked API keys seen by
// every replica at once, one audit chain, keys that must match, and a rotation made on one replica reaching the others.

import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnrollmentToken } from '../../src/auth/enrollment-token.js';
import { systemClock } from '../../src/crypto/clock.js';
import { generateKeyPair, privateKeyFromPem, privateKeyToPem } from '../../src/crypto/keys.js';
import { fetchBytes } from '../../src/client/fetch.js';
import { RevocationStream } from '../../src/client/revocation-stream.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { freshDatabaseUrl } from '../helpers/databases.js';
import { ca, caJson } from '../helpers/run.js';
import { copyReplica, crlNumber, ocspStatus, waitFor } from '../helpers/replicas.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const TD = 'acme.internal';

describe('three replicas on one PostgreSQL database', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-replicas-'));
  let dirs: string[];
  let replicas: RunningCa[];
  let rootPem: string;
  let apiKey: string;
  beforeAll(async () => {
    const database = await freshDatabaseUrl();
    const first = join(root, 'a');
    const init = caJson<{ database: string }>(['init', '--dir', first, '--name', 'Replicated CA', '--trust-domain', TD, '--database', database]);
    expect(init.database).toBe(database);
    dirs = [first, copyReplica(first, join(root, 'b')), copyReplica(first, join(root, 'c'))];
    apiKey = ca(['apikey', 'create', '--dir', first, '--name', 'ops', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke,list,audit`]).stdout.trim();
    replicas = await Promise.all(dirs.map((d) => startCa(d, { args: ['--rate-limit', '100000'] })));
    rootPem = readFileSync(join(first, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  const sign = (replica: RunningCa, bearer: string, name: string) => {
    const key = generateKeyPair('ec-p256').privateKey;
    const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(key, name)), name, spiffeId: `spiffe://${TD}/${name}` });
    return httpsRequest(`${replica.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body });
  };

  it('ok/one enrollment token raced at two replicas 100 times gives exactly one certificate each time', async () => {
    const tokenKey = privateKeyFromPem(readFileSync(join(dirs[0]!, 'private', 'token.key'), 'utf8'), undefined, 'token key');
    const outcomes: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { token } = await createEnrollmentToken(tokenKey, systemClock, TD, { name: `race${i}`, spiffeId: `spiffe://${TD}/race${i}`, dnsNames: [], ipAddresses: [], certTtlSeconds: 3600 }, 300);
      const answers = await Promise.all([sign(replicas[0]!, token, `race${i}`), sign(replicas[1]!, token, `race${i}`)]);
      outcomes.push(answers.map((a) => (a.status === 201 ? 'issued' : a.json().error.code)).sort().join(','));
    }
    expect(new Set(outcomes)).toEqual(new Set(['ERR_TOKEN_REPLAYED,issued']));
    const listed = (await httpsRequest(`${replicas[2]!.url}/v1/certificates?identity=spiffe://${TD}/race*&limit=10000`, { ca: rootPem, headers: { authorization: `Bearer ${apiKey}` } })).json();
    expect(listed.certificates).toHaveLength(100);
  });

  it('ok/a revocation through one replica is revoked in the others\' OCSP within a second, and in their CRLs, whose numbers only grow', async () => {
    const issued = (await sign(replicas[0]!, apiKey, 'victim')).json();
    const leaf = `${issued.certificate}`;
    const numbers = await Promise.all(replicas.map((r) => crlNumber(r.httpUrl)));
    // Replica B has answered "good" once (and keeps that answer pre-signed).
    expect(await ocspStatus(replicas[1]!.httpUrl, leaf, issued.chain)).toBe('good');
    const revoked = await httpsRequest(`${replicas[0]!.url}/v1/certificates/${issued.serial}/revoke`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: '{"reason":"keyCompromise"}' });
    expect(revoked.status).toBe(200);
    const started = performance.now();
    await waitFor('replica B to answer revoked', async () => (await ocspStatus(replicas[1]!.httpUrl, leaf, issued.chain)) === 'revoked', 5_000, 20);
    const seenAfter = performance.now() - started;
    expect(seenAfter, `replica B answered revoked after ${Math.round(seenAfter)} ms`).toBeLessThan(1000);
    expect(await ocspStatus(replicas[2]!.httpUrl, leaf, issued.chain)).toBe('revoked');
    for (const [i, replica] of replicas.entries()) {
      await waitFor(`replica ${i}'s CRL to list it`, async () => (await crlNumber(replica.httpUrl, issued.serial)).listed, 3_000);
      expect((await crlNumber(replica.httpUrl)).number).toBeGreaterThan(numbers[i]!.number);
    }
  });

  it('ok/a revocation through one replica reaches the revocation-stream subscribers of every other replica within 2 s, signed', async () => {
    const keyOf = () => generateKeyPair('ec-p256').privateKey;
    const subscriberKey = keyOf();
    const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(subscriberKey, 'subscriber')), name: 'subscriber', spiffeId: `spiffe://${TD}/subscriber` });
    const sub = (await httpsRequest(`${replicas[0]!.url}/v1/sign`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body })).json();
    const credentials = () => ({ cert: `${sub.certificate}${sub.chain}`, key: privateKeyToPem(subscriberKey) });
    const bundle = (await fetchBytes(`${replicas[0]!.url}/v1/trust-bundle`, { caBundle: rootPem, caService: true })).toString('utf8');
    const seen: { replica: number; serial: string; at: number }[] = [];
    const streams = [1, 2].map((i) => {
      const stream = new RevocationStream({ caUrl: replicas[i]!.url, caBundle: rootPem, credentials, trustBundle: () => bundle });
      stream.on('revoked', (n: { serial: string }) => seen.push({ replica: i, serial: n.serial, at: performance.now() }));
      return stream.start();
    });
    try {
      await waitFor('both subscriptions', () => streams.every((s) => s.connected), 10_000, 20);
      const victim = (await sign(replicas[0]!, apiKey, 'pushed')).json();
      const revoked = await httpsRequest(`${replicas[0]!.url}/v1/certificates/${victim.serial}/revoke`, { ca: rootPem, method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: '{}' });
      const started = performance.now();
      expect(revoked.status).toBe(200);
      await waitFor('both subscribers to hear of it', () => [1, 2].every((i) => seen.some((e) => e.replica === i && e.serial === victim.serial)), 5_000, 20);
      for (const e of seen.filter((x) => x.serial === victim.serial)) expect(e.at - started, `replica ${e.replica} pushed it after ${Math.round(e.at - started)} ms`).toBeLessThan(2_000);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('ok/an API key revoked on the directory of one replica is refused by every replica at once', async () => {
    const key = ca(['apikey', 'create', '--dir', dirs[1]!, '--name', 'short-lived', '--scope', 'list']).stdout.trim();
    for (const r of replicas) expect((await httpsRequest(`${r.url}/v1/certificates?limit=1`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect(ca(['apikey', 'revoke', 'short-lived', '--dir', dirs[2]!]).code).toBe(0);
    for (const r of replicas) {
      const refused = await httpsRequest(`${r.url}/v1/certificates?limit=1`, { ca: rootPem, headers: { authorization: `Bearer ${key}` } });
      expect([refused.status, refused.json().error.code]).toEqual([401, 'ERR_APIKEY_REVOKED']);
    }
  });

  it('ok/audit rows appended through every replica at once form one chain that ca audit verify accepts', async () => {
    await Promise.all(replicas.flatMap((r) => Array.from({ length: 20 }, (_, i) => sign(r, apiKey, `chain-${r.httpsPort}-${i}`))));
    const verified = caJson<{ ok: boolean; rows: number }>(['audit', 'verify', '--dir', dirs[2]!]);
    expect(verified.ok).toBe(true);
    expect(verified.rows).toBeGreaterThan(60);
  });

  it('fail/a replica whose keys are not the database\'s refuses to start and names the file, before it issues anything', async () => {
    const stranger = join(root, 'stranger');
    expect(ca(['init', '--dir', stranger, '--name', 'Stranger', '--trust-domain', TD]).code).toBe(0);
    const serviceLeaves = () => caJson<{ caService?: boolean }[]>(['list', '--dir', dirs[0]!, '--all']).filter((c) => c.caService).length;
    const before = serviceLeaves();
    for (const file of ['token.key', 'audit.key', 'intermediate.key']) {
      const wrong = copyReplica(dirs[0]!, join(root, `wrong-${file}`));
      writeFileSync(join(wrong, 'private', file), readFileSync(join(stranger, 'private', file)));
      const r = ca(['serve', '--dir', wrong, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/\[ERR_KEY_MISMATCH\]$/);
      expect(r.stderr).toContain(file === 'intermediate.key' ? 'private holds no key for intermediate' : `${join(wrong, 'private', file)} is not the key this CA's database was made with`);
      rmSync(wrong, { recursive: true, force: true });
    }
    // A root.pem from another CA is named too.
    const wrongRoot = copyReplica(dirs[0]!, join(root, 'wrong-root'));
    writeFileSync(join(wrongRoot, 'root.pem'), readFileSync(join(stranger, 'root.pem')));
    expectOneLineError(ca(['list', '--dir', wrongRoot]), 'ERR_KEY_MISMATCH', 'root.pem is not the root certificate');
    // None of them got as far as issuing its own TLS certificate.
    expect(serviceLeaves()).toBe(before);
  });

  it('ok/a rotation made on one replica reaches the others: a warning while their private/ lacks the key, not ready once it should sign, ready again once copied', async () => {
    const lead = 4;
    for (const d of dirs) {
      const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, rotationLead: `${lead}s` }));
    }
    // Restart B and C with the new lead (A rotates from the command line).
    for (const i of [1, 2]) {
      await replicas[i]!.stop();
      replicas[i] = await startCa(dirs[i]!, { args: ['--rate-limit', '100000'] });
    }
    const rotated = caJson<{ current: { serial: string }; keyFile: string; signsFrom: string }>(['intermediate', 'rotate', '--dir', dirs[0]!]);
    const readyz = async (r: RunningCa) => {
      const res = await fetch(`${r.httpUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as { checks: Record<string, string>; warnings?: Record<string, string> } };
    };
    await waitFor('replica B to warn that private/ lacks the new key', async () => (await readyz(replicas[1]!)).body.warnings?.intermediateKey?.includes(rotated.current.serial) ?? false, 5_000);
    expect((await readyz(replicas[1]!)).status).toBe(200);
    // Every replica publishes the new intermediate at once (the trust bundle), whatever its keys.
    await waitFor('replica B to publish the new intermediate', async () => (await (await fetch(`${replicas[1]!.httpUrl}/v1/trust-bundle`)).text()).split('BEGIN CERTIFICATE').length - 1 === 3, 5_000);
    // Once the new intermediate should sign, a replica without its key is not ready (a load balancer stops sending to it).
    await waitFor('replica B to be not ready', async () => (await readyz(replicas[1]!)).status === 503, 15_000);
    expect((await readyz(replicas[1]!)).body.checks.intermediateKey).toContain('copy the private/ folder');
    // Copying the key in is enough: no restart.
    cpSync(rotated.keyFile, join(dirs[1]!, 'private', 'intermediates', rotated.keyFile.split('/').at(-1)!), { recursive: true });
    await waitFor('replica B to be ready again', async () => (await readyz(replicas[1]!)).status === 200 && (await readyz(replicas[1]!)).body.warnings?.intermediateKey === undefined, 10_000);
    const fromB = (await sign(replicas[1]!, apiKey, 'after-rotation')).json();
    expect(fromB.chain).toContain(readFileSync(join(dirs[0]!, 'intermediate.pem'), 'utf8').trim().split('\n')[1]!);
  }, 60_000);
});

describe('ca init --database', () => {
  it('fail/a database that already holds a CA is refused, and nothing is made', async () => {
    const database = await freshDatabaseUrl();
    const root = tempDir();
    expect(ca(['init', '--dir', join(root, 'one'), '--name', 'One', '--trust-domain', TD, '--database', database]).code).toBe(0);
    expectOneLineError(ca(['init', '--dir', join(root, 'two'), '--name', 'Two', '--trust-domain', TD, '--database', database]), 'ERR_DATABASE_IN_USE', 'already holds a CA');
    expect(ca(['list', '--dir', join(root, 'two')]).code).toBe(1);
  });

  it('fail/a URL that is not PostgreSQL, or a server that is not there, is a clear one-line error that never shows the password', async () => {
    const root = tempDir();
    expectOneLineError(ca(['init', '--dir', join(root, 'x'), '--name', 'X', '--trust-domain', TD, '--database', 'mysql://h/db']), 'ERR_CONFIG_INVALID', 'must start with postgres://');
    const down = ca(['init', '--dir', join(root, 'y'), '--name', 'Y', '--trust-domain', TD, '--database', 'postgres://meshca:hunter2-secret@127.0.0.1:1/ca']);
    expect(down.stderr).not.toContain('hunter2');
    expectOneLineError(down, 'ERR_DATABASE_UNAVAILABLE', 'postgres://meshca:***@127.0.0.1:1/ca');
    // A password given as a query parameter is hidden too.
    const query = ca(['init', '--dir', join(root, 'q'), '--name', 'Q', '--trust-domain', TD, '--database', 'postgres://meshca@127.0.0.1:1/ca?password=hunter3-secret']);
    expect(query.stderr).not.toContain('hunter3');
    expectOneLineError(query, 'ERR_DATABASE_UNAVAILABLE', 'password=***');
    // TLS asked of a server that has none is a connection problem, said as such.
    const tls = new URL(await freshDatabaseUrl());
    tls.searchParams.set('sslmode', 'require');
    expectOneLineError(ca(['init', '--dir', join(root, 't'), '--name', 'T', '--trust-domain', TD, '--database', tls.href]), 'ERR_DATABASE_UNAVAILABLE', 'does not accept TLS');
  });

  it('ok/MESHCA_DATABASE_URL overrides config.json (the password stays out of the file), and a SQLite CA refuses it', async () => {
    const database = await freshDatabaseUrl();
    const root = tempDir();
    const dir = join(root, 'env');
    const url = new URL(database);
    // config.json names a server that is not there; the variable names the real one.
    expect(ca(['init', '--dir', dir, '--name', 'Env', '--trust-domain', TD, '--database', database]).code).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, database: `postgres://${url.username}@127.0.0.1:1${url.pathname}` }));
    expect(ca(['list', '--dir', dir], { env: { MESHCA_DATABASE_URL: database } }).code).toBe(0);
    expect(ca(['list', '--dir', dir]).code).toBe(1);
    const sqlite = join(root, 'sqlite');
    expect(ca(['init', '--dir', sqlite, '--name', 'Lite', '--trust-domain', TD]).code).toBe(0);
    expectOneLineError(ca(['list', '--dir', sqlite], { env: { MESHCA_DATABASE_URL: database } }), 'ERR_CONFIG_INVALID', 'MESHCA_DATABASE_URL is set, but this CA keeps its data in ca.db');
  });

  it('ok/ca init and ca migrate --to take the password from MESHCA_DATABASE_URL naming the same database; set otherwise, it is a usage error', async () => {
    const root = tempDir();
    const database = await freshDatabaseUrl();
    const withPassword = new URL(database);
    withPassword.password = 'from-the-environment';
    const env = { MESHCA_DATABASE_URL: withPassword.href };
    // Without --database, init would make a SQLite CA the variable cannot serve: refused, nothing made.
    expectOneLineError(ca(['init', '--dir', join(root, 'lite'), '--name', 'L', '--trust-domain', TD], { env }), 'ERR_USAGE', 'MESHCA_DATABASE_URL is set but --database is not');
    expect(existsSync(join(root, 'lite'))).toBe(false);
    const elsewhere = { MESHCA_DATABASE_URL: await freshDatabaseUrl() };
    expectOneLineError(ca(['init', '--dir', join(root, 'x'), '--name', 'X', '--trust-domain', TD, '--database', database], { env: elsewhere }), 'ERR_USAGE', 'make the two name the same database');
    // The same database: init connects with the variable's URL (the note shows its password was used) and stores none.
    const made = ca(['init', '--dir', join(root, 'pg'), '--name', 'P', '--trust-domain', TD, '--database', database], { env });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain('the database password was used but not written into config.json');
    expect(readFileSync(join(root, 'pg', 'config.json'), 'utf8')).not.toContain('from-the-environment');
    // ca migrate --to: the same rule, and the SQLite CA being moved is not refused for the variable.
    const sqlite = join(root, 'moving');
    expect(ca(['init', '--dir', sqlite, '--name', 'M', '--trust-domain', TD]).code).toBe(0);
    const target = await freshDatabaseUrl();
    const targetWithPassword = new URL(target);
    targetWithPassword.password = 'from-the-environment';
    expectOneLineError(ca(['migrate', '--dir', sqlite, '--to', target], { env }), 'ERR_USAGE', 'make the two name the same database');
    const moved = ca(['migrate', '--dir', sqlite, '--to', target], { env: { MESHCA_DATABASE_URL: targetWithPassword.href } });
    expect(moved.code, moved.stderr).toBe(0);
    expect(readFileSync(join(sqlite, 'config.json'), 'utf8')).not.toContain('from-the-environment');
  });
});
