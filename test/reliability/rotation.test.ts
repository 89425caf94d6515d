// An offline root and intermediate rotation: the root key is needed only to make an intermediate or re-sign the
// root's CRL, and a rotation under load refuses no renewal and no peer while old leaves still verify and revoke.

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequestRaw } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMtlsAgent } from '../../src/tls/agent.js';
import { createMtlsServer } from '../../src/tls/server.js';
import { CertificateSource } from '../../src/tls/source.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caAsync, caJson, openssl } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';

const TD = 'acme.internal';
const roots: string[] = [];
const services: RunningCa[] = [];
const closers: Array<() => void> = [];
afterAll(async () => {
  for (const c of closers) c();
  for (const s of services) await s.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tempRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'meshca-rotation-'));
  roots.push(r);
  return r;
}
async function serve(dir: string): Promise<RunningCa> {
  const s = await startCa(dir);
  services.push(s);
  return s;
}
const setConfig = (dir: string, extra: Record<string, unknown>) => {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...extra }));
};
const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
};
const pemCount = (text: string, label: string) => text.split(`-----BEGIN ${label}-----`).length - 1;
const waitFor = async (what: string, check: () => boolean | Promise<boolean>, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('an offline root', () => {
  it('ok/init --root-key-out keeps the root key out of the directory; issue, crl and serve run without it; rotation and the root CRL need it', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    const rootKey = join(root, 'root.key');
    const init = caJson<{ rootKey: string; rootOffline: boolean; rootCrlNextUpdate: string }>(['init', '--dir', dir, '--name', 'Offline CA', '--trust-domain', TD, '--root-key-out', rootKey]);
    expect(init).toMatchObject({ rootKey, rootOffline: true });
    expect(existsSync(join(dir, 'private', 'root.key'))).toBe(false);
    expect((statSync(rootKey).mode & 0o777).toString(8)).toBe('600');
    // The root's CRL is signed once, for a long time: the root can stay away.
    expect(new Date(init.rootCrlNextUpdate).getTime() - Date.now()).toBeGreaterThan(390 * 86400_000);
    // It is in the database (every replica serves it), not a file of the directory.
    expect(existsSync(join(dir, 'root.crl'))).toBe(false);

    // Everyday work needs no root key.
    expect(ca(['issue', 'api', '--dir', dir, '--spiffe-id', `spiffe://${TD}/api`, '--cert-out', join(root, 'api.pem'), '--key-out', join(root, 'api.key')]).code).toBe(0);
    const pem = caJson<{ root: { number: string }; intermediate: { number: string } }>(['crl', '--dir', dir, '--pem', '--out', join(root, 'all.pem')]);
    const rootCrlNumber = BigInt(pem.root.number);
    expect(pemCount(readFileSync(join(root, 'all.pem'), 'utf8'), 'X509 CRL')).toBe(2);
    const svc = await serve(dir);
    expect((await get(`${svc.httpUrl}/readyz`)).status).toBe(200);
    // Listening elsewhere than the public URL in the certificates is worth a warning; ca ocsp names the URL it asked.
    expect(svc.log()).toContain("is not this service's plain HTTP listener");
    expectOneLineError(ca(['ocsp', '--cert', join(root, 'api.pem'), '--url', 'http://127.0.0.1:1/ocsp']), 'ERR_CA_UNREACHABLE', 'asked the OCSP responder http://127.0.0.1:1/ocsp');
    const rootCrl = await fetch(`${svc.httpUrl}/crl/root.pem`);
    expect([rootCrl.status, pemCount(await rootCrl.text(), 'X509 CRL')]).toEqual([200, 1]);
    expect(pemCount((await get(`${svc.httpUrl}/crl/intermediate.pem`)).text, 'X509 CRL')).toBe(1);

    // What needs the root says so, and takes it from the file the operator brings.
    expectOneLineError(ca(['intermediate', 'rotate', '--dir', dir]), 'ERR_ROOT_KEY_OFFLINE', 'pass --root-key FILE');
    expectOneLineError(ca(['crl', '--root', '--dir', dir, '--out', join(root, 'r.crl')]), 'ERR_ROOT_KEY_OFFLINE', 'taken offline');
    const resigned = caJson<{ root: { number: string; nextUpdate: string } }>(['crl', '--root', '--root-key', rootKey, '--dir', dir, '--out', join(root, 'r.crl')]);
    expect(BigInt(resigned.root.number)).toBeGreaterThan(rootCrlNumber);
    await waitFor('the re-signed root CRL to be served', async () => Buffer.from(await (await fetch(`${svc.httpUrl}/crl/root.crl`)).arrayBuffer()).equals(readFileSync(join(root, 'r.crl'))));

    // The root key is never written over an existing file, and a failed init leaves nothing.
    expectOneLineError(ca(['init', '--dir', join(root, 'ca2'), '--name', 'Second', '--trust-domain', TD, '--root-key-out', rootKey]), 'ERR_FILE_EXISTS', 'already exists');
    expect(existsSync(join(root, 'ca2'))).toBe(false);
  }, 90_000);
});

describe('intermediate rotation under load', () => {
  it('ok/no renewal refused, no meshca/tls peer refused; new leaves from the new intermediate; old leaves still verify and still revoke', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    const rootKey = join(root, 'root.key');
    expect(ca(['init', '--dir', dir, '--name', 'Rotating CA', '--trust-domain', TD, '--root-key-out', rootKey]).code).toBe(0);
    setConfig(dir, { rotationLead: '3s' });
    const out = (n: string) => join(root, n);
    expect(ca(['issue', 'old', '--dir', dir, '--spiffe-id', `spiffe://${TD}/old`, '--cert-out', out('old.pem'), '--key-out', out('old.key')]).code).toBe(0);
    const oldSerial = caJson<Array<{ serial: string }>>(['list', '--dir', dir])[0]!.serial;
    const svc = await serve(dir);
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');

    // Two services on meshca/tls, enrolled and renewing against the CA, refreshing trust every half second.
    const source = async (name: string) => {
      const token = ca(['token', name, '--dir', dir, '--spiffe-id', `spiffe://${TD}/${name}`, '--cert-ttl', '12s']).stdout.trim();
      const s = await CertificateSource.fromCA({ caUrl: svc.url, caBundle: join(dir, 'root.pem'), dir: out(name), token, refreshIntervalMs: 500 });
      s.on('error', () => undefined); // a failed renewal would show as a refused call or renewal below
      closers.push(() => s.close());
      return s;
    };
    const backendSource = await source('backend');
    const frontendSource = await source('frontend');
    const refused: unknown[] = [];
    const backend = createMtlsServer({ source: backendSource, authorize: (p) => p.spiffeId === `spiffe://${TD}/frontend`, onRefused: (r) => refused.push(r) }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    closers.push(() => backend.close());
    const agent = createMtlsAgent({ source: frontendSource, authorize: (p) => p.spiffeId === `spiffe://${TD}/backend`, onRefused: (r) => refused.push(r) });
    const port = (backend.address() as AddressInfo).port;
    const call = () => new Promise<string>((resolve) => {
      const req = httpsRequestRaw({ host: '127.0.0.1', port, path: '/', agent, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', (e) => resolve(e.message));
      req.end();
    });

    // A client renewing with its newest certificate, as fast as it can.
    let holder = (() => {
      const r = ca(['issue', 'renewer', '--dir', dir, '--spiffe-id', `spiffe://${TD}/renewer`, '--cert-out', out('renewer.pem'), '--key-out', out('renewer.key')]);
      expect(r.code).toBe(0);
      return { cert: readFileSync(out('renewer.pem'), 'utf8'), key: readFileSync(out('renewer.key'), 'utf8') };
    })();
    const renewals: { status: number; chain: string }[] = [];
    const calls: string[] = [];
    let running = true;
    const renewLoop = (async () => {
      while (running) {
        const r = await httpsRequest(`${svc.url}/v1/renew`, { ca: rootPem, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', cert: holder.cert, key: holder.key });
        renewals.push({ status: r.status, chain: r.status === 201 ? r.json().chain : r.body.toString() });
        if (r.status === 201) holder = { cert: `${r.json().certificate}${r.json().chain}`, key: holder.key };
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    const callLoop = (async () => {
      while (running) {
        calls.push(await call());
        await new Promise((res) => setTimeout(res, 50));
      }
    })();

    await new Promise((r) => setTimeout(r, 2000));
    const oldChain = renewals.at(-1)!.chain;
    const rotated = await caAsync(['intermediate', 'rotate', '--dir', dir, '--root-key', rootKey, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { current } = JSON.parse(rotated.stdout) as { current: { serial: string } };
    // Published at once (trust bundle and CRLs carry both), signing after the lead.
    await waitFor('the trust bundle to carry both intermediates', async () => pemCount((await get(`${svc.httpUrl}/v1/trust-bundle`)).text, 'CERTIFICATE') === 3, 5_000);
    await waitFor('/crl/all.pem to carry the CRLs of both', async () => pemCount((await get(`${svc.httpUrl}/crl/all.pem`)).text, 'X509 CRL') === 3, 5_000);
    await waitFor('a renewal from the new intermediate', () => renewals.at(-1)!.chain !== oldChain, 15_000);
    // Both meshca/tls services renew onto the new intermediate while they keep calling each other.
    const issuerSerial = (s: CertificateSource) => {
      const pems = s.credentials().cert.split('-----END CERTIFICATE-----').slice(1, 2).join('') + '-----END CERTIFICATE-----';
      return openssl(['x509', '-noout', '-serial'], pems).stdout.trim().replace(/^serial=/, '').toLowerCase().replace(/^0+/, '');
    };
    await waitFor('both services to hold certificates from the new intermediate', () => issuerSerial(backendSource) === current.serial && issuerSerial(frontendSource) === current.serial, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    running = false;
    await Promise.all([renewLoop, callLoop]);
    agent.destroy();
    await new Promise((r) => backend.close(() => r(undefined)));
    backendSource.close();
    frontendSource.close();

    expect(renewals.filter((r) => r.status !== 201)).toEqual([]);
    expect(calls.filter((c) => c !== '200')).toEqual([]);
    expect(calls.length).toBeGreaterThan(50);
    expect(refused).toEqual([]);

    // A leaf of the old intermediate still verifies against the root with the published CRLs, and still revokes.
    writeFileSync(out('all.pem'), (await get(`${svc.httpUrl}/crl/all.pem`)).text);
    const verify = () => openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', out('old.pem'), '-crl_check_all', '-CRLfile', out('all.pem'), out('old.pem')]);
    expect(verify().stdout).toContain('OK');
    expect(ca(['revoke', oldSerial, '--dir', dir, '--reason', 'keyCompromise']).code).toBe(0);
    await waitFor('the old intermediate to publish the revocation', async () => {
      writeFileSync(out('all.pem'), (await get(`${svc.httpUrl}/crl/all.pem`)).text);
      return verify().stderr.includes('certificate revoked');
    }, 5_000);
    const status = caJson<{ status: string }>(['ocsp', '--cert', out('old.pem'), '--ca-bundle', join(dir, 'root.pem'), '--url', `${svc.httpUrl}/ocsp`]);
    expect(status.status).toBe('revoked');
    // The CRL the old leaf names (its own issuer's, by key id) lists it.
    const cdp = /URI:(http\S+\.crl)/.exec(openssl(['x509', '-noout', '-ext', 'crlDistributionPoints', '-in', out('old.pem')]).stdout)![1]!;
    const oldCrl = Buffer.from(await (await fetch(`${svc.httpUrl}${new URL(cdp).pathname}`)).arrayBuffer());
    writeFileSync(out('old.crl'), oldCrl);
    expect(caJson<{ revoked: Array<{ serial: string }> }>(['inspect', out('old.crl')]).revoked.map((r) => r.serial)).toContain(oldSerial);
  }, 120_000);
});

describe('rotation by the service itself', () => {
  it('ok/with the root key in the directory, ca serve rotates at two thirds of the intermediate\'s life', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Auto CA', '--trust-domain', TD, '--intermediate-lifetime', '24s', '--max-ttl', '10s', '--default-ttl', '10s']).code).toBe(0);
    setConfig(dir, { rotationLead: '1s' });
    const first = readFileSync(join(dir, 'intermediate.pem'), 'utf8');
    const svc = await serve(dir);
    await waitFor('the service to rotate', () => svc.log().includes('rotated the intermediate at two thirds of its life'), 30_000);
    expect(readFileSync(join(dir, 'intermediate.pem'), 'utf8')).not.toBe(first);
    await waitFor('the trust bundle to carry both', async () => pemCount((await get(`${svc.httpUrl}/v1/trust-bundle`)).text, 'CERTIFICATE') === 3, 5_000);
    const audit = caJson<Array<{ actor: string; action: string }>>(['audit', '--dir', dir]);
    expect(audit.some((r) => r.action === 'rotate-intermediate' && r.actor === 'system:serve')).toBe(true);
    expect((await get(`${svc.httpUrl}/readyz`)).status).toBe(200);
  }, 60_000);

  it('fail/without the root key, ca serve warns from 30 days before the intermediate expires: log, metric, /readyz detail', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Warned CA', '--trust-domain', TD, '--intermediate-lifetime', '20d', '--root-key-out', join(root, 'root.key')]).code).toBe(0);
    const svc = await serve(dir);
    const ready = await get(`${svc.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text).warnings.intermediate).toContain('ca intermediate rotate --dir DIR --root-key FILE');
    expect(ready.text, '/readyz is public: it names no server path').not.toContain(dir);
    const metrics = (await get(`${svc.httpUrl}/metrics`)).text;
    expect(metrics).toMatch(/^meshca_intermediate_rotation_needed 1$/m);
    // The other gauges an operator alerts on, and process metrics named once (not meshca_process_process_*).
    expect(ca(['issue', 'soon', '--dir', dir, '--dns', 'soon.acme.internal', '--ttl', '1h', '--cert-out', join(root, 's.pem'), '--key-out', join(root, 's.key')]).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100)); // /metrics is rendered at most once a second
    const later = (await get(`${svc.httpUrl}/metrics`)).text;
    const gauge = (within: string) => Number(new RegExp(`^meshca_leaves_expiring\\{within="${within}"\\} (\\d+)$`, 'm').exec(later)?.[1]);
    expect(gauge('24h')).toBeGreaterThanOrEqual(1);
    expect(gauge('7d')).toBeGreaterThanOrEqual(gauge('24h'));
    expect(later).toContain('meshca_process_cpu_user_seconds_total');
    expect(later).not.toContain('meshca_process_process_');
    expect(svc.log()).toContain('the root key is offline, so rotate it with');
  }, 60_000);
});

describe('what an attacker found', () => {
  it('fail/two rotations at once: one wins, the other changes nothing; no intermediate loses its key, old leaves still verify and revoke', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Raced CA', '--trust-domain', TD]).code).toBe(0);
    const out = (n: string) => join(root, n);
    const old = caJson<{ serial: string }>(['issue', 'old', '--dir', dir, '--spiffe-id', `spiffe://${TD}/old`, '--cert-out', out('old.pem'), '--key-out', out('old.key')]).serial;
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      const both = await Promise.all([0, 1].map(() => caAsync(['intermediate', 'rotate', '--dir', dir, '--json'])));
      for (const r of both) outcomes.push(r.code === 0 ? 'rotated' : (/\[(ERR_[A-Z_]+)\]/.exec(r.stderr)?.[1] ?? r.stderr));
    }
    expect(outcomes.every((o) => o === 'rotated' || o === 'ERR_ROTATION_CONFLICT'), outcomes.join(', ')).toBe(true);
    expect(outcomes.filter((o) => o === 'rotated').length).toBeGreaterThanOrEqual(3);
    // Every intermediate the database holds has its key: the service starts, and the old leaf's chain still verifies.
    const svc = await serve(dir);
    const bundle = (await get(`${svc.httpUrl}/v1/trust-bundle`)).text;
    writeFileSync(out('bundle.pem'), bundle);
    expect(openssl(['verify', '-CAfile', out('bundle.pem'), out('old.pem')]).code).toBe(0);
    expect(ca(['revoke', old, '--dir', dir]).code).toBe(0);
    await waitFor('the old leaf in its issuer\'s CRL', async () => {
      writeFileSync(out('all.pem'), (await get(`${svc.httpUrl}/crl/all.pem`)).text);
      return openssl(['verify', '-crl_check_all', '-CAfile', out('bundle.pem'), '-CRLfile', out('all.pem'), out('old.pem')]).stdout.includes('certificate revoked') || openssl(['verify', '-crl_check_all', '-CAfile', out('bundle.pem'), '-CRLfile', out('all.pem'), out('old.pem')]).stderr.includes('certificate revoked');
    }, 5_000);
  }, 60_000);

  it('fail/an automatic rotation that fails shows in /readyz warnings and the metric, not only in the log', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Broken CA', '--trust-domain', TD, '--intermediate-lifetime', '30s', '--max-ttl', '5s', '--default-ttl', '5s']).code).toBe(0);
    // ca serve checks the root key when it starts; swapped for a stranger's after that, every rotation attempt fails.
    const stranger = join(root, 'stranger');
    expect(ca(['init', '--dir', stranger, '--name', 'Stranger', '--trust-domain', TD]).code).toBe(0);
    const svc = await serve(dir);
    writeFileSync(join(dir, 'private', 'root.key'), readFileSync(join(stranger, 'private', 'root.key')));
    await waitFor('the failed rotation to show in /readyz', async () => JSON.parse((await get(`${svc.httpUrl}/readyz`)).text).warnings?.intermediate?.includes('automatic rotation of the intermediate failed') ?? false, 40_000);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get(`${svc.httpUrl}/metrics`)).text).toMatch(/^meshca_intermediate_rotation_needed 1$/m);
  }, 60_000);

  it('fail/ca serve refuses to start with a root key that is not the root\'s, rather than fail at the first rotation', () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    const stranger = join(root, 'stranger');
    expect(ca(['init', '--dir', dir, '--name', 'Mixed CA', '--trust-domain', TD]).code).toBe(0);
    expect(ca(['init', '--dir', stranger, '--name', 'Stranger', '--trust-domain', TD]).code).toBe(0);
    writeFileSync(join(dir, 'private', 'root.key'), readFileSync(join(stranger, 'private', 'root.key')));
    expectOneLineError(ca(['serve', '--dir', dir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']), 'ERR_KEY_MISMATCH', `${join(dir, 'private', 'root.key')} is not the key of this CA's root certificate`);
  });

  it('ok/an expired intermediate gets no new OCSP signer every second; /readyz says it expired', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Lapsing CA', '--trust-domain', TD, '--intermediate-lifetime', '8s', '--max-ttl', '4s', '--default-ttl', '4s', '--root-key-out', join(root, 'root.key')]).code).toBe(0);
    const svc = await serve(dir);
    await waitFor('the intermediate to expire', async () => (await get(`${svc.httpUrl}/readyz`)).status === 503, 20_000);
    const signers = () => caJson<Array<{ action: string }>>(['audit', '--dir', dir]).filter((r) => r.action === 'ocsp-signer').length;
    const before = signers();
    await new Promise((r) => setTimeout(r, 4000));
    expect(signers() - before).toBeLessThanOrEqual(1);
    expect(JSON.parse((await get(`${svc.httpUrl}/readyz`)).text).checks.intermediate).toBe('expired');
  }, 60_000);

  it('fail/a root CRL that lapses before long, or is missing, is a /readyz warning; its validity never falls short of an intermediate\'s life', async () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    const init = caJson<{ rootCrlNextUpdate: string; intermediateNotAfter: string }>(['init', '--dir', dir, '--name', 'Lasting CA', '--trust-domain', TD, '--intermediate-lifetime', '730d', '--root-key-out', join(root, 'root.key')]);
    expect(new Date(init.rootCrlNextUpdate).getTime()).toBeGreaterThanOrEqual(new Date(init.intermediateNotAfter).getTime());
    // A root CRL valid 20 days: re-signed with an intermediate lifetime shorter than that.
    setConfig(dir, { rootCrlValidity: '20d', intermediateLifetime: '10d' });
    expect(ca(['crl', '--root', '--root-key', join(root, 'root.key'), '--dir', dir, '--out', join(root, 'root.crl')]).code).toBe(0);
    const svc = await serve(dir);
    await waitFor('the root CRL warning', async () => JSON.parse((await get(`${svc.httpUrl}/readyz`)).text).warnings?.rootCrl?.includes("the root's CRL expires at") ?? false, 5_000);
    expect((await get(`${svc.httpUrl}/readyz`)).status).toBe(200);
  }, 60_000);
});

describe('a root passphrase of its own', () => {
  it('ok/the offline root key opens with its own passphrase, not the one the CA host runs with', () => {
    const root = tempRoot();
    const dir = join(root, 'ca');
    const rootKey = join(root, 'root.key');
    writeFileSync(join(root, 'root-pass'), 'only-for-the-ceremony\n');
    const env = { CA_PASSPHRASE: 'the-daily-passphrase' };
    expect(ca(['init', '--dir', dir, '--name', 'Two Pass CA', '--trust-domain', TD, '--root-key-out', rootKey, '--root-passphrase-file', join(root, 'root-pass')], { env }).code).toBe(0);
    expect(readFileSync(rootKey, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    // The passphrase of every day opens the intermediate, not the root.
    expect(ca(['issue', 'x', '--dir', dir, '--dns', 'x.acme.internal', '--cert-out', join(root, 'x.pem'), '--key-out', join(root, 'x.key')], { env }).code).toBe(0);
    expectOneLineError(ca(['intermediate', 'rotate', '--dir', dir, '--root-key', rootKey], { env }), 'ERR_PASSPHRASE_WRONG', 'root CA key');
    expect(ca(['intermediate', 'rotate', '--dir', dir, '--root-key', rootKey, '--root-passphrase-file', join(root, 'root-pass')], { env }).code).toBe(0);
    expect(ca(['crl', '--root', '--root-key', rootKey, '--dir', dir, '--out', join(root, 'r.crl')], { env: { ...env, ROOT_CA_PASSPHRASE: 'only-for-the-ceremony' } }).code).toBe(0);
  });
});
