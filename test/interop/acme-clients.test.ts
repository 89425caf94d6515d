// ACME with the clients people run: certbot (issue, renew, revoke) and lego (http-01 and tls-alpn-01), from Debian.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crlNumber, ocspStatus } from '../helpers/replicas.js';
import { ca, caJson, openssl, runAsync } from '../helpers/run.js';
import { freePort, startCa, type RunningCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const NAME = 'web.acme.internal';
const running: RunningCa[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

/** A CA whose ACME validation reaches this machine's free ports for NAME, and an EAB key for *.acme.internal. */
async function acmeCa() {
  const root = tempDir();
  const dir = join(root, 'ca');
  expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
  const ports = { http01: await freePort(), tlsAlpn01: await freePort() };
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, acme: { resolve: { [NAME]: '127.0.0.1' }, ports } }));
  const eab = caJson<{ kid: string; hmacKey: string }>(['acme', 'eab', 'create', '--dir', dir, '--name', 'clients', '--scope', 'issue:dns:*.acme.internal', '--json']);
  const svc = await startCa(dir);
  running.push(svc);
  return { root, dir, ports, eab, svc, directory: `${svc.url}/acme/directory` };
}

describe('certbot', () => {
  it('ok/certonly --standalone (http-01 on a mapped port), renew --force-renewal, revoke: the revocation shows in OCSP and the CRL', async () => {
    const c = await acmeCa();
    const env = { REQUESTS_CA_BUNDLE: join(c.dir, 'root.pem') };
    const dirs = ['--config-dir', join(c.root, 'cb', 'config'), '--work-dir', join(c.root, 'cb', 'work'), '--logs-dir', join(c.root, 'cb', 'logs')];
    const issued = await runAsync('certbot', ['certonly', '--standalone', '--non-interactive', '--agree-tos', '--register-unsafely-without-email', '--server', c.directory, '--eab-kid', c.eab.kid, `--eab-hmac-key=${c.eab.hmacKey}`, '-d', NAME, '--preferred-challenges', 'http', '--http-01-port', String(c.ports.http01), '--http-01-address', '127.0.0.1', ...dirs], undefined, env);
    expect(issued.code, issued.stdout + issued.stderr).toBe(0);
    const live = join(c.root, 'cb', 'config', 'live', NAME);
    const first = openssl(['x509', '-in', join(live, 'cert.pem'), '-noout', '-serial']).stdout.trim();
    expect(openssl(['verify', '-CAfile', join(c.dir, 'root.pem'), '-untrusted', join(live, 'chain.pem'), join(live, 'cert.pem')]).code).toBe(0);
    const renewed = await runAsync('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', '--non-interactive', ...dirs], undefined, env);
    expect(renewed.code, renewed.stdout + renewed.stderr).toBe(0);
    const second = openssl(['x509', '-in', join(live, 'cert.pem'), '-noout', '-serial']).stdout.trim();
    expect(second).not.toBe(first);
    const revoked = await runAsync('certbot', ['revoke', '--non-interactive', '--server', c.directory, '--cert-path', join(live, 'cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke', ...dirs], undefined, env);
    expect(revoked.code, revoked.stdout + revoked.stderr).toBe(0);
    const leaf = readFileSync(join(live, 'cert.pem'), 'utf8');
    const chain = readFileSync(join(live, 'chain.pem'), 'utf8');
    const serial = second.split('=')[1]!.toLowerCase().replace(/^0+/, '');
    const deadline = Date.now() + 5_000;
    while ((await ocspStatus(c.svc.httpUrl, leaf, chain)) !== 'revoked' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await ocspStatus(c.svc.httpUrl, leaf, chain)).toBe('revoked');
    while (!(await crlNumber(c.svc.httpUrl, serial)).listed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await crlNumber(c.svc.httpUrl, serial)).listed).toBe(true);
    // The certificates are the CA's like any other: listed, with the account as their actor in the audit log.
    expect(ca(['audit', '--dir', c.dir]).stdout).toMatch(/acme:[A-Za-z0-9_-]+\s+revoke/);
  }, 120_000);
});

describe('lego', () => {
  it('ok/run with http-01, then renew with tls-alpn-01', async () => {
    const c = await acmeCa();
    const env = { LEGO_CA_CERTIFICATES: join(c.dir, 'root.pem') };
    const common = ['--server', c.directory, '--eab', '--kid', c.eab.kid, '--hmac', c.eab.hmacKey, '--email', 'ops@acme.internal', '--accept-tos', '--domains', NAME, '--path', join(c.root, 'lego')];
    const run = await runAsync('lego', [...common, '--http', '--http.port', `127.0.0.1:${c.ports.http01}`, 'run'], undefined, env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const crt = join(c.root, 'lego', 'certificates', `${NAME}.crt`);
    const first = openssl(['x509', '-in', crt, '-noout', '-serial']).stdout.trim();
    const renew = await runAsync('lego', [...common, '--tls', '--tls.port', `127.0.0.1:${c.ports.tlsAlpn01}`, 'renew', '--days', '9999', '--no-random-sleep'], undefined, env);
    expect(renew.code, renew.stdout + renew.stderr).toBe(0);
    expect(openssl(['x509', '-in', crt, '-noout', '-serial']).stdout.trim()).not.toBe(first);
    expect(openssl(['verify', '-CAfile', join(c.dir, 'root.pem'), '-untrusted', join(c.root, 'lego', 'certificates', `${NAME}.issuer.crt`), crt]).code).toBe(0);
  }, 120_000);
});
