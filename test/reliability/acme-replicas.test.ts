// ACME across two `ca serve` replicas on one PostgreSQL database, behind a TCP balancer that sends each connection to
// the next replica: nonces, accounts, orders and challenges are the store's, so any replica carries on any step.

import { createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer } from 'node:http';
import { Agent, request } from 'node:https';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { FlattenedSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabaseUrl } from '../helpers/databases.js';
import { copyReplica } from '../helpers/replicas.js';
import { ca, caJson } from '../helpers/run.js';
import { startCa, type RunningCa } from '../helpers/service.js';

/** A round-robin TCP balancer on 127.0.0.1: connection n goes to port n mod the list; counts what each got. */
async function roundRobin(ports: number[]): Promise<{ server: Server; port: number; served: number[] }> {
  const served = ports.map(() => 0);
  let next = 0;
  const server = createServer((client) => {
    const i = next++ % ports.length;
    served[i]!++;
    const upstream = connect(ports[i]!, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, served };
}

describe('ACME on two PostgreSQL replicas, each connection to the other replica', () => {
  const answers = new Map<string, string>();
  const web = createHttpServer((req, res) => {
    const body = answers.get((req.url ?? '').split('/').pop() ?? '');
    res.writeHead(body === undefined ? 404 : 200).end(body ?? '');
  });
  const root = mkdtempSync(join(tmpdir(), 'meshca-acme-ha-'));
  let replicas: RunningCa[] = [];
  let lb: Awaited<ReturnType<typeof roundRobin>>;
  let dir: string;
  let rootPem: string;
  let eab: { kid: string; hmacKey: string };
  beforeAll(async () => {
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    dir = join(root, 'a');
    expect(ca(['init', '--dir', dir, '--name', 'ACME HA CA', '--trust-domain', 'acme.internal', '--database', await freshDatabaseUrl()]).code).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, acme: { resolve: { 'web.acme.internal': '127.0.0.1' }, ports: { http01: (web.address() as AddressInfo).port } } }));
    copyReplica(dir, join(root, 'b'));
    eab = caJson(['acme', 'eab', 'create', '--dir', dir, '--name', 'web', '--scope', 'issue:dns:*.acme.internal', '--json']);
    replicas = await Promise.all([dir, join(root, 'b')].map((d) => startCa(d)));
    lb = await roundRobin(replicas.map((r) => r.httpsPort));
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    // A new connection for every request (no keep-alive), so consecutive requests alternate between the replicas.
    acme.axios.defaults.httpsAgent = new Agent({ ca: rootPem, keepAlive: false });
  });
  afterAll(async () => {
    lb?.server.close();
    web.close();
    await Promise.all(replicas.map((r) => r.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  it('ok/account, order, http-01, finalize and download through both replicas; fail/a nonce one replica issued and the other spent is badNonce at either', async () => {
    const directoryUrl = `https://127.0.0.1:${lb.port}/acme/directory`;
    const accountKey = await acme.crypto.createPrivateEcdsaKey();
    const client = new acme.Client({ directoryUrl, accountKey, externalAccountBinding: eab });
    const [, csr] = await acme.crypto.createCsr({ commonName: 'web.acme.internal', altNames: ['web.acme.internal'] }, await acme.crypto.createPrivateEcdsaKey());
    const pem = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      challengeCreateFn: async (_a, challenge, keyAuthorization) => void answers.set(challenge.token, keyAuthorization),
      challengeRemoveFn: async (_a, challenge) => void answers.delete(challenge.token),
    });
    expect(acme.crypto.readCertificateInfo(pem).domains.altNames).toEqual(['web.acme.internal']);
    expect(lb.served.every((n) => n >= 4)).toBe(true);
    // One certificate, one order, one account: the steps did not fork between the replicas.
    expect(caJson<Array<{ dnsNames: string[] }>>(['list', '--dir', dir, '--json']).filter((c) => c.dnsNames.includes('web.acme.internal'))).toHaveLength(1);
    expect(ca(['audit', 'verify', '--dir', dir]).code).toBe(0);

    // Nonces: fetched through one replica, spent through the other, refused when replayed through either.
    const call = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; nonce: string; type?: string }>((resolve, reject) => {
        const req = request(`https://127.0.0.1:${lb.port}${path}`, { method, ca: rootPem, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/jose+json' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, nonce: String(res.headers['replay-nonce']), type: text ? (JSON.parse(text) as { type?: string }).type : undefined }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const nonce = (await call('HEAD', '/acme/new-nonce')).nonce;
    const url = `https://127.0.0.1:${lb.port}/acme/new-order`;
    const body = JSON.stringify(await new FlattenedSign(new TextEncoder().encode(JSON.stringify({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] }))).setProtectedHeader({ alg: 'ES256', kid: client.getAccountUrl(), nonce, url } as never).sign(createPrivateKey(accountKey)));
    expect((await call('POST', '/acme/new-order', body)).status).toBe(201);
    for (let i = 0; i < 2; i++) expect(await call('POST', '/acme/new-order', body)).toMatchObject({ status: 400, type: 'urn:ietf:params:acme:error:badNonce' });
  }, 60_000);
});
