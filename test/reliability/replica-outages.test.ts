// Replicas that die and a database that restarts, under 16-client load: nothing acknowledged is lost, serials stay
// unique, CRL numbers only grow, the audit chain holds; while PostgreSQL is down the API answers 503
// ERR_DATABASE_UNAVAILABLE quickly, OCSP and CRLs keep answering, and everything comes back without a restart.
// MESHCA_REPLICA_KILLS sets the number of kills (make test: 10; make soak: 25).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';
import { freshDatabaseUrl } from '../helpers/databases.js';
import { recordFigures } from '../helpers/figures.js';
import { startPostgres } from '../helpers/postgres-server.mjs';
import { copyReplica, crlNumber, ocspStatus, waitFor } from '../helpers/replicas.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { Workload, type Acknowledged } from '../helpers/workload.js';

const KILLS = Number(process.env.MESHCA_REPLICA_KILLS ?? 10);
const TD = 'acme.internal';
const serveArgs = ['--rate-limit', '100000'];

/** Every acknowledged certificate stored with its identity, every acknowledged revocation stored: what is not. */
async function missing(databaseUrl: string, issued: readonly Acknowledged[], revoked: readonly string[], when: string): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ serial: string; spiffe_id: string; revoked_at: string | null }[]>`SELECT serial, spiffe_id, revoked_at FROM certificates WHERE serial = ANY(${issued.map((a) => a.serial)}::text[])`;
    const stored = new Map(rows.map((r) => [r.serial, r]));
    const problems: string[] = [];
    for (const a of issued) {
      const row = stored.get(a.serial);
      if (!row) problems.push(`${when}: acknowledged ${a.serial} is not stored`);
      else if (row.spiffe_id !== a.spiffeId) problems.push(`${when}: ${a.serial} stored as ${row.spiffe_id}, acknowledged as ${a.spiffeId}`);
    }
    for (const s of revoked) if (stored.get(s)?.revoked_at == null) problems.push(`${when}: acknowledged revocation of ${s} is not stored`);
    return problems;
  } finally {
    await sql.end();
  }
}

describe(`two replicas on PostgreSQL under load, ${KILLS} SIGKILLs`, () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-replica-kills-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('ok/every acknowledged issuance and revocation is stored; serials unique; each replica\'s CRL number only grows; the audit chain verifies', async () => {
    const database = await freshDatabaseUrl();
    const dirs = [join(root, 'a'), join(root, 'b')];
    expect(ca(['init', '--dir', dirs[0]!, '--name', 'Killed CA', '--trust-domain', TD, '--database', database]).code).toBe(0);
    copyReplica(dirs[0]!, dirs[1]!);
    const apiKey = ca(['apikey', 'create', '--dir', dirs[0]!, '--name', 'load', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke`]).stdout.trim();
    const caPem = readFileSync(join(dirs[0]!, 'root.pem'), 'utf8');
    const replicas: RunningCa[] = await Promise.all(dirs.map((d) => startCa(d, { args: serveArgs })));
    const up = [true, true];
    const work = new Workload({ url: () => {
      const live = replicas.filter((_, i) => up[i]);
      return live[Math.floor(Math.random() * live.length)]!.url;
    }, ca: caPem, apiKey, trustDomain: TD }, 16);
    work.start();
    const lastNumber = [0n, 0n];
    const problems: string[] = [];
    try {
      for (let kill = 1; kill <= KILLS; kill++) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        const i = Math.floor(Math.random() * replicas.length);
        const victim = replicas[i]!;
        up[i] = false;
        victim.child.kill('SIGKILL');
        await victim.stop();
        problems.push(...(await missing(database, [...work.issued.values()], [...work.revoked], `kill ${kill}`)));
        replicas[i] = await startCa(dirs[i]!, { httpsPort: victim.httpsPort, httpPort: victim.httpPort, args: serveArgs });
        up[i] = true;
        for (const [j, r] of replicas.entries()) {
          const { number } = await crlNumber(r.httpUrl);
          if (number < lastNumber[j]!) problems.push(`kill ${kill}: replica ${j} served CRL ${number} after ${lastNumber[j]}`);
          lastNumber[j] = number;
        }
      }
    } finally {
      await work.stop();
    }
    problems.push(...(await missing(database, [...work.issued.values()], [...work.revoked], 'at the end')));
    // The revocations every replica publishes: in its CRL, and revoked in its OCSP.
    for (const r of replicas) {
      for (const s of [...work.revoked].slice(-3)) {
        const a = work.issued.get(s)!;
        const status = await ocspStatus(r.httpUrl, a.cert, readFileSync(join(dirs[0]!, 'intermediate.pem'), 'utf8'));
        if (status !== 'revoked') problems.push(`replica ${r.httpsPort}: OCSP says ${status} for revoked ${s}`);
      }
    }
    const audit = caJson<{ ok: boolean; rows: number }>(['audit', 'verify', '--dir', dirs[1]!]);
    await Promise.all(replicas.map((r) => r.stop()));
    const acknowledged = work.stats.sign.ok + work.stats.renew.ok;
    recordFigures('replica-kills', { kills: KILLS, replicas: 2, acknowledgedIssuances: acknowledged, acknowledgedRevocations: work.revoked.size, requestsLostToKills: work.stats.sign.lost + work.stats.renew.lost + work.stats.revoke.lost, auditRows: audit.rows, lastCrlNumbers: lastNumber.map(Number) });
    expect(problems, problems.slice(0, 20).join('\n')).toEqual([]);
    expect(audit.ok).toBe(true);
    expect(work.repeated, 'a serial acknowledged twice').toEqual([]);
    expect(work.unexpected, work.unexpected.slice(0, 10).join('\n')).toEqual([]);
    expect(acknowledged).toBeGreaterThan(KILLS * 5);
    expect(work.revoked.size).toBeGreaterThan(0);
  }, 90_000 + KILLS * 8_000);
});

describe('a PostgreSQL outage under load', () => {
  it('ok/only 503 ERR_DATABASE_UNAVAILABLE, quickly, while it is down; OCSP from the pre-signed cache and CRLs keep answering; nothing acknowledged is lost; back on its own within seconds', async () => {
    const server = await startPostgres();
    const root = mkdtempSync(join(tmpdir(), 'meshca-outage-'));
    let svc: RunningCa | undefined;
    try {
      const database = await freshDatabaseUrl(server.url);
      const dir = join(root, 'ca');
      expect(ca(['init', '--dir', dir, '--name', 'Outage CA', '--trust-domain', TD, '--database', database]).code).toBe(0);
      const apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'load', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke`]).stdout.trim();
      const caPem = readFileSync(join(dir, 'root.pem'), 'utf8');
      svc = await startCa(dir, { args: serveArgs });
      const sign = () => {
        const key = generateKeyPair('ec-p256').privateKey;
        return httpsRequest(`${svc!.url}/v1/sign`, { ca: caPem, method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(key, 'probe')), name: 'probe', spiffeId: `spiffe://${TD}/probe` }) });
      };
      const probe = (await sign()).json();
      expect(await ocspStatus(svc.httpUrl, probe.certificate, probe.chain)).toBe('good');

      const work = new Workload({ url: () => svc!.url, ca: caPem, apiKey, trustDomain: TD, databaseOutage: true }, 16);
      work.start();
      await new Promise((r) => setTimeout(r, 1500));
      const outages: number[] = [];
      for (const how of ['stop', 'restart'] as const) {
        if (how === 'stop') {
          server.stop();
          const started = performance.now();
          const refused = await sign();
          const answeredIn = performance.now() - started;
          expect([refused.status, refused.json().error.code]).toEqual([503, 'ERR_DATABASE_UNAVAILABLE']);
          // Callers learn that the database failed, not where it is.
          expect(refused.json().error.message).not.toMatch(/postgres:|127\.0\.0\.1/);
          expect(answeredIn, `a sign request during the outage took ${Math.round(answeredIn)} ms`).toBeLessThan(6_000);
          const ready = await fetch(`${svc.httpUrl}/readyz`);
          expect(ready.status).toBe(503);
          const readyText = await ready.text();
          expect((JSON.parse(readyText) as { checks: Record<string, string> }).checks.database).toContain('unavailable');
          expect(readyText).not.toMatch(/postgres:|127\.0\.0\.1/);
          // ca ocsp takes the pre-signed answer (it cannot echo the nonce) and says so.
          writeFileSync(join(root, 'probe.pem'), `${probe.certificate}${probe.chain}`);
          const asked = ca(['ocsp', '--cert', join(root, 'probe.pem'), '--url', `${svc.httpUrl}/ocsp`]);
          expect(asked.code, asked.stderr).toBe(0);
          expect(asked.stdout).toContain('good');
          expect(asked.stdout).toContain('a pre-signed answer (no nonce echoed)');
          // What was signed keeps being served: the pre-signed OCSP answer, the CRLs, the trust bundle.
          expect(await ocspStatus(svc.httpUrl, probe.certificate, probe.chain)).toBe('good');
          expect((await fetch(`${svc.httpUrl}/crl/all.pem`)).status).toBe(200);
          expect((await fetch(`${svc.httpUrl}/v1/trust-bundle`)).status).toBe(200);
          await new Promise((r) => setTimeout(r, 1500));
          server.start();
        } else server.restart();
        const back = performance.now();
        await waitFor('a signature after the database came back', async () => (await sign()).status === 201, 20_000, 100);
        outages.push(performance.now() - back);
        await waitFor('/readyz to be ready again', async () => (await fetch(`${svc!.httpUrl}/readyz`)).status === 200, 10_000);
        await new Promise((r) => setTimeout(r, 1500));
      }
      await work.stop();
      const problems = await missing(database, [...work.issued.values()], [...work.revoked], 'after the outages');
      recordFigures('database-outage', { outages: 2, recoveryMs: outages.map(Math.round), acknowledged: work.stats.sign.ok + work.stats.renew.ok, unavailableAnswers: work.stats.sign.unavailable + work.stats.renew.unavailable + work.stats.revoke.unavailable });
      expect(problems, problems.slice(0, 20).join('\n')).toEqual([]);
      expect(work.unexpected, work.unexpected.slice(0, 10).join('\n')).toEqual([]);
      expect(work.stats.sign.unavailable + work.stats.renew.unavailable + work.stats.revoke.unavailable).toBeGreaterThan(0);
      for (const ms of outages) expect(ms, `back after ${Math.round(ms)} ms`).toBeLessThan(10_000);
      const unexpected = svc.log().split('\n').filter((l) => l.includes('"msg":"unexpected error"'));
      expect(unexpected, unexpected.slice(0, 3).join('\n')).toEqual([]);
    } finally {
      await svc?.stop();
      server.destroy();
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
