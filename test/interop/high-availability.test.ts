// The README's high-availability example, run as written: three replicas on one PostgreSQL database behind HAProxy
// with examples/ha/haproxy.cfg; enrollment, renewal, revocation, OCSP and CRLs through it, and a replica killed.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabaseUrl } from '../helpers/databases.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.mjs';
import { copyReplica, waitFor } from '../helpers/replicas.js';
import { ca, caJson } from '../helpers/run.js';
import { freePort, startCa, type RunningCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const TD = 'acme.internal';
const CONFIG = fileURLToPath(new URL('../../examples/ha/haproxy.cfg', import.meta.url));
const haproxy = spawnSync('sh', ['-c', 'command -v haproxy']).status === 0;

describe.skipIf(!haproxy)('three replicas behind HAProxy (examples/ha/haproxy.cfg)', () => {
  const running: { replicas: RunningCa[]; lb?: ChildProcess; database?: PostgresServer } = { replicas: [] };
  afterAll(async () => {
    running.lb?.kill('SIGTERM');
    await Promise.all(running.replicas.map((r) => r.stop().catch(() => undefined)));
    running.database?.destroy();
  });

  it('ok/enroll, renew and revoke through the load balancer, OCSP and CRLs from any replica; through a database outage (503s, CRLs served) and a killed replica the fleet carries on', async () => {
    const root = tempDir();
    const [lbHttps, lbHttp] = [await freePort(), await freePort()];
    const dirs = ['a', 'b', 'c'].map((n) => join(root, n));
    // A server of its own: this test stops it.
    running.database = await startPostgres();
    expect(ca(['init', '--dir', dirs[0]!, '--name', 'HA CA', '--trust-domain', TD, '--public-url', `http://127.0.0.1:${lbHttp}`, '--database', await freshDatabaseUrl(running.database.url)]).code).toBe(0);
    copyReplica(dirs[0]!, dirs[1]!);
    copyReplica(dirs[0]!, dirs[2]!);
    running.replicas = await Promise.all(dirs.map((d) => startCa(d)));
    const env: Record<string, string> = { MESHCA_LB_HTTPS: `127.0.0.1:${lbHttps}`, MESHCA_LB_HTTP: `127.0.0.1:${lbHttp}` };
    running.replicas.forEach((r, i) => Object.assign(env, { [`MESHCA_${'ABC'[i]}_HOST`]: '127.0.0.1', [`MESHCA_${'ABC'[i]}_HTTPS`]: String(r.httpsPort), [`MESHCA_${'ABC'[i]}_HTTP`]: String(r.httpPort) }));
    running.lb = spawn('haproxy', ['-f', CONFIG, '-db'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const lb = { api: `https://127.0.0.1:${lbHttps}`, public: `http://127.0.0.1:${lbHttp}` };
    await waitFor('HAProxy to see the replicas ready', async () => (await fetch(`${lb.public}/readyz`)).status === 200, 15_000);

    const bundle = join(dirs[0]!, 'root.pem');
    const out = (n: string) => join(root, n);
    const token = ca(['token', 'web', '--dir', dirs[1]!, '--spiffe-id', `spiffe://${TD}/web`]).stdout.trim();
    expect(ca(['issue', 'web', '--ca-url', lb.api, '--ca-bundle', bundle, '--token', token, '--cert-out', out('web.pem'), '--key-out', out('web.key')]).code).toBe(0);
    // Renewals over mTLS land on any replica (least connections), each one a new serial.
    const serials = new Set<string>();
    for (let i = 0; i < 6; i++) serials.add(caJson<{ serial: string }>(['renew', '--ca-url', lb.api, '--ca-bundle', bundle, '--cert', out('web.pem'), '--key', out('web.key')]).serial);
    expect(serials.size).toBe(6);
    // A second service, kept for the outage below.
    const token2 = ca(['token', 'web2', '--dir', dirs[1]!, '--spiffe-id', `spiffe://${TD}/web2`]).stdout.trim();
    expect(ca(['issue', 'web2', '--ca-url', lb.api, '--ca-bundle', bundle, '--token', token2, '--cert-out', out('web2.pem'), '--key-out', out('web2.key')]).code).toBe(0);
    // OCSP at the URL in the certificate: the load balancer's.
    expect(caJson<{ status: string }>(['ocsp', '--cert', out('web.pem'), '--ca-bundle', bundle]).status).toBe('good');
    const apiKey = ca(['apikey', 'create', '--dir', dirs[2]!, '--name', 'ops', '--scope', 'revoke']).stdout.trim();
    expect(ca(['revoke', '--cert', out('web.pem'), '--ca-url', lb.api, '--ca-bundle', bundle], { env: { MESHCA_API_KEY: apiKey } }).code).toBe(0);
    // Whichever replica answers, within a second or so.
    await waitFor('every replica to answer revoked', async () => {
      for (let i = 0; i < 3; i++) if (caJson<{ status: string }>(['ocsp', '--cert', out('web.pem'), '--ca-bundle', bundle]).status !== 'revoked') return false;
      return true;
    }, 5_000);
    expect(ca(['crl', 'sync', '--ca-url', lb.public, '--ca-bundle', bundle, '--out', out('crls.pem'), '--once']).code).toBe(0);

    // The database goes away: no replica is ready, so the load balancer sends to any that is alive. The API answers
    // 503 ERR_DATABASE_UNAVAILABLE (not a reset), CRLs and OCSP are still served, and all comes back on its own.
    running.database.stop();
    await waitFor('the API through the load balancer to answer 503 ERR_DATABASE_UNAVAILABLE', () => {
      const r = ca(['renew', '--ca-url', lb.api, '--ca-bundle', bundle, '--cert', out('web2.pem'), '--key', out('web2.key')]);
      return r.stderr.includes('[ERR_DATABASE_UNAVAILABLE]');
    }, 15_000, 500);
    expect((await fetch(`${lb.public}/crl/all.pem`)).status).toBe(200);
    expect((await fetch(`${lb.public}/v1/trust-bundle`)).status).toBe(200);
    running.database.start();
    await waitFor('renewal through the load balancer once the database is back', () => ca(['renew', '--ca-url', lb.api, '--ca-bundle', bundle, '--cert', out('web2.pem'), '--key', out('web2.key')]).code === 0, 15_000, 500);

    // A replica dies: HAProxy takes it out, and enrollment and renewal go on through the others.
    running.replicas[0]!.child.kill('SIGKILL');
    const token3 = ca(['token', 'api', '--dir', dirs[1]!, '--spiffe-id', `spiffe://${TD}/api`]).stdout.trim();
    await waitFor('enrollment through the load balancer with a replica down', () => ca(['issue', 'api', '--ca-url', lb.api, '--ca-bundle', bundle, '--token', token3, '--cert-out', out('api.pem'), '--key-out', out('api.key'), '--force']).code === 0, 10_000, 500);
    for (let i = 0; i < 4; i++) expect(ca(['renew', '--ca-url', lb.api, '--ca-bundle', bundle, '--cert', out('api.pem'), '--key', out('api.key')]).code).toBe(0);
  }, 90_000);
});
