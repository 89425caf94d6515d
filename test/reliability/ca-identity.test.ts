// Clients talk only to the CA service itself: a server with any other certificate from the same CA (even one for
// 127.0.0.1) gets no credential and no request; the service replaces its own certificate at once when it is revoked.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateSource } from '../../src/tls/source.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caAsync, caJson } from '../helpers/run.js';
import { startCa, type RunningCa } from '../helpers/service.js';

const TD = 'acme.internal';

/** The serial of the certificate a TLS server presents. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerX509Certificate()!.serialNumber.toLowerCase().replace(/^0+/, ''));
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('the CA service identity', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let fake: Server;
  let fakeUrl: string;
  const seen: string[] = [];
  const out = (name: string) => join(root, name);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-identity-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Identity CA', '--trust-domain', TD]).code).toBe(0);
    writeFileSync(out('key.txt'), `${ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', 'list,revoke']).stdout.trim()}\n`, { mode: 0o600 });
    writeFileSync(out('token.txt'), ca(['token', 'web', '--dir', dir, '--dns', 'web.acme.internal', '--ttl', '1h']).stdout.trim(), { mode: 0o600 });
    // Anyone holding an ordinary certificate of this CA for 127.0.0.1 and localhost can stand up a server that
    // chains to the root and matches the hostname.
    expect(ca(['issue', 'impostor', '--dir', dir, '--ip', '127.0.0.1', '--dns', 'localhost', '--spiffe-id', `spiffe://${TD}/impostor`, '--cert-out', out('fake.pem'), '--key-out', out('fake.key')]).code).toBe(0);
    expect(ca(['issue', 'svc', '--dir', dir, '--dns', 'svc.acme.internal', '--cert-out', out('svc.pem'), '--key-out', out('svc.key')]).code).toBe(0);
    fake = createServer({ cert: readFileSync(out('fake.pem')), key: readFileSync(out('fake.key')) }, (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"certificates":[]}');
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakeUrl = `https://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    svc = await startCa(dir);
  });
  afterAll(async () => {
    await svc?.stop();
    fake?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('fail/the CLI refuses an impostor with a certificate of this CA for 127.0.0.1, and sends it nothing', async () => {
    const bundle = ['--ca-bundle', join(dir, 'root.pem')];
    const refusedBy = async (args: string[], env: Record<string, string> = {}) => {
      const r = await caAsync(args, env);
      expectOneLineError(r, 'ERR_TLS_TRUST', 'not the meshca CA service');
      expect(r.stderr).toContain(`spiffe://${TD}/impostor`);
      expect(r.stderr).toContain('nothing was sent');
    };
    await refusedBy(['list', '--ca-url', fakeUrl, ...bundle, '--api-key-file', out('key.txt')]);
    await refusedBy(['list', '--ca-url', fakeUrl, ...bundle], { MESHCA_API_KEY: readFileSync(out('key.txt'), 'utf8').trim() });
    await refusedBy(['revoke', 'aa', '--ca-url', fakeUrl, ...bundle, '--api-key-file', out('key.txt')]);
    await refusedBy(['issue', 'web', '--ca-url', fakeUrl, ...bundle, '--token-file', out('token.txt'), '--cert-out', out('web.pem'), '--key-out', out('web.key'), '--force']);
    await refusedBy(['renew', '--ca-url', fakeUrl, ...bundle, '--cert', out('svc.pem'), '--key', out('svc.key')]);
    await refusedBy(['crl', '--ca-url', fakeUrl, ...bundle, '--out', out('crl.der')]);
    await expect(CertificateSource.fromCA({ caUrl: fakeUrl, caBundle: join(dir, 'root.pem'), dir: out('source'), token: readFileSync(out('token.txt'), 'utf8') })).rejects.toMatchObject({ code: 'ERR_TLS_TRUST' });
    expect(seen).toEqual([]);
  });

  it('ok/the real service passes, with the API key from a file or from MESHCA_API_KEY; both forms at once are a usage error', async () => {
    const remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
    expect((await caAsync(['list', ...remote, '--api-key-file', out('key.txt'), '--json'])).code).toBe(0);
    expect((await caAsync(['list', ...remote, '--json'], { MESHCA_API_KEY: readFileSync(out('key.txt'), 'utf8').trim() })).code).toBe(0);
    const both = await caAsync(['list', ...remote, '--api-key', 'mca_x', '--api-key-file', out('key.txt')]);
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('not both')]);
    const issued = await caAsync(['issue', 'web', ...remote, '--cert-out', out('web.pem'), '--key-out', out('web.key'), '--force', '--json'], { MESHCA_TOKEN: readFileSync(out('token.txt'), 'utf8') });
    expect(issued.code, issued.stderr).toBe(0);
  });

  it('ok/a revoked service certificate is replaced at once', async () => {
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const before = await servedSerial(svc.httpsPort, rootPem);
    expect(caJson(['revoke', before, '--dir', dir, '--reason', 'keyCompromise'])).toMatchObject({ serial: before, alreadyRevoked: false });
    let after = before;
    for (let i = 0; i < 40 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await servedSerial(svc.httpsPort, rootPem);
    }
    expect(after).not.toBe(before);
    expect(caJson<Array<{ serial: string }>>(['list', '--dir', dir]).some((c) => c.serial === after)).toBe(false);
    expect(caJson<Array<{ serial: string; status: string; spiffeId: string }>>(['list', '--dir', dir, '--all']).find((c) => c.serial === after)).toMatchObject({ caService: true, status: 'valid', spiffeId: `spiffe://${TD}/meshca/ca` });
    expect(svc.log()).toContain('replaced the revoked service certificate');
    expect((await caAsync(['list', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--api-key-file', out('key.txt')])).code).toBe(0);
  });
});
