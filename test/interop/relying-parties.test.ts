// Relying parties that are not Node: nginx and openssl s_server verify client certificates against the CRL file
// `ca crl sync` keeps fresh, and refuse a revoked client once the sync has written its revocation.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_BIN, ca } from '../helpers/run.js';
import { freePort, startCa, type RunningCa } from '../helpers/service.js';

const TD = 'acme.internal';
const children: ChildProcess[] = [];
const waitFor = async (what: string, check: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
/** curl with a client certificate: the HTTP status, or 0 when the TLS handshake was refused. */
const curlAs = (port: number, cert: string, key: string, rootPem: string) => {
  const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', rootPem, '--cert', cert, '--key', key, `https://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 10_000 });
  return Number(r.stdout || 0);
};

describe('relying parties with ca crl sync', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  const out = (f: string) => join(root, f);
  const issue = (name: string, ...ids: string[]) => {
    expect(ca(['issue', name, '--dir', dir, ...ids, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`)]).code).toBe(0);
    return { cert: out(`${name}.pem`), key: out(`${name}.key`) };
  };
  const serial = (cert: string) => spawnSync('openssl', ['x509', '-noout', '-serial', '-in', cert], { encoding: 'utf8' }).stdout.trim().replace(/^serial=/, '').toLowerCase().replace(/^0+/, '');

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-relying-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Relying CA', '--trust-domain', TD]).code).toBe(0);
    svc = await startCa(dir);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGTERM');
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('ok/sync --once writes verified PEM CRLs; an unknown root is refused and the file is left alone', () => {
    const r = ca(['crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('once.pem'), '--once', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true, crls: [{ level: 'root' }, { level: 'intermediate' }] });
    expect(readFileSync(out('once.pem'), 'utf8').match(/BEGIN X509 CRL/g)).toHaveLength(2);
    const again = JSON.parse(ca(['crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('once.pem'), '--once', '--json']).stdout);
    expect(again.changed).toBe(false);
    const otherDir = join(root, 'other');
    expect(ca(['init', '--dir', otherDir, '--name', 'Other CA', '--trust-domain', TD]).code).toBe(0);
    const before = readFileSync(out('once.pem'), 'utf8');
    const foreign = ca(['crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(otherDir, 'root.pem'), '--out', out('once.pem'), '--once']);
    expect([foreign.code, foreign.stderr]).toEqual([1, expect.stringContaining('[ERR_TLS_TRUST]')]);
    expect(readFileSync(out('once.pem'), 'utf8')).toBe(before);
  });

  it('ok/openssl s_server -CRL with the intermediate\'s CRL: a client revoked since is refused after the sync and a restart', async () => {
    const server = issue('s-server', '--dns', 'localhost', '--ip', '127.0.0.1');
    const good = issue('good-client', '--spiffe-id', `spiffe://${TD}/good`);
    const bad = issue('bad-client', '--spiffe-id', `spiffe://${TD}/bad`);
    const sync = () => expect(ca(['crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('int.pem'), '--intermediate-only', '--once']).code).toBe(0);
    const start = async () => {
      const port = await freePort();
      const child = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', server.cert, '-cert_chain', server.cert, '-key', server.key, '-CAfile', join(dir, 'root.pem'), '-Verify', '3', '-verify_return_error', '-CRL', out('int.pem'), '-crl_check', '-www', '-quiet'], { stdio: 'ignore' });
      children.push(child);
      await new Promise((r) => setTimeout(r, 500));
      return { port, child };
    };
    sync();
    let s = await start();
    expect([curlAs(s.port, good.cert, good.key, join(dir, 'root.pem')), curlAs(s.port, bad.cert, bad.key, join(dir, 'root.pem'))]).toEqual([200, 200]);
    expect(ca(['revoke', serial(bad.cert), '--dir', dir, '--reason', 'keyCompromise']).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500)); // the service re-signs within a second
    sync();
    s.child.kill();
    s = await start();
    expect([curlAs(s.port, good.cert, good.key, join(dir, 'root.pem')), curlAs(s.port, bad.cert, bad.key, join(dir, 'root.pem'))]).toEqual([200, 0]);
  });

  it.skipIf(spawnSync('sh', ['-c', 'command -v nginx']).status !== 0)('ok/nginx ssl_crl kept fresh by ca crl sync --exec "nginx -s reload": a revoked client is refused within seconds, others are not', async () => {
    const server = issue('nginx', '--dns', 'localhost', '--ip', '127.0.0.1');
    const good = issue('nginx-good', '--spiffe-id', `spiffe://${TD}/nginx-good`);
    const bad = issue('nginx-bad', '--spiffe-id', `spiffe://${TD}/nginx-bad`);
    const port = await freePort();
    const prefix = out('nginx-prefix');
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, `
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log info;
events {}
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${server.cert};
    ssl_certificate_key ${server.key};
    ssl_client_certificate ${join(dir, 'root.pem')};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_crl ${out('nginx-crl.pem')};
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }
}
`);
    const nginx = ['-p', prefix, '-c', conf];
    // ca crl sync writes the file before nginx starts (nginx refuses to start without it), then reloads it on change.
    const syncer = spawn(process.execPath, [CA_BIN, 'crl', 'sync', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('nginx-crl.pem'), '--interval', '1', '--exec', `nginx ${nginx.join(' ')} -s reload`], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(syncer);
    let syncLog = '';
    syncer.stderr!.on('data', (d: Buffer) => (syncLog += d.toString()));
    await waitFor('the first CRL file', () => existsSync(out('nginx-crl.pem')));
    const daemon = spawn('nginx', [...nginx, '-g', 'daemon off;'], { stdio: 'ignore' });
    children.push(daemon);
    await waitFor('nginx to listen', () => curlAs(port, good.cert, good.key, join(dir, 'root.pem')) === 200);
    expect(curlAs(port, bad.cert, bad.key, join(dir, 'root.pem'))).toBe(200);
    expect(ca(['revoke', serial(bad.cert), '--dir', dir]).code).toBe(0);
    await waitFor('nginx to refuse the revoked client', () => curlAs(port, bad.cert, bad.key, join(dir, 'root.pem')) === 400, 20_000);
    expect(curlAs(port, good.cert, good.key, join(dir, 'root.pem'))).toBe(200);
    expect(syncLog).toMatch(/ca crl sync: wrote .*nginx-crl\.pem/);
  }, 60_000);
});
