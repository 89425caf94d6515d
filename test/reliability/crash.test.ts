// SIGKILL the service at random moments while 16 clients issue, renew and revoke; after each restart nothing
// acknowledged is lost. MESHCA_CRASH_KILLS sets the number of kills (make test: 5; make soak: 25).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { readPemLabelled } from '../../src/crypto/pem.js';
import { x509 } from '../../src/crypto/x509.js';
import { readCertificate } from '../../src/pki/certificate.js';
import { readCrl } from '../../src/revocation/crl.js';
import { ocspRequestFor, verifyOcspResponse } from '../../src/revocation/ocsp-verify.js';
import { ca } from '../helpers/run.js';
import { startCa, type RunningCa } from '../helpers/service.js';
import { Workload } from '../helpers/workload.js';
import { recordFigures } from '../helpers/figures.js';

const KILLS = Number(process.env.MESHCA_CRASH_KILLS ?? 5);
const TD = 'acme.internal';

async function get(url: string, init?: { method: string; body: Buffer; contentType: string }): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(url, init ? { method: init.method, body: init.body, headers: { 'content-type': init.contentType } } : undefined);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

describe(`crash safety (${KILLS} SIGKILLs under load)`, () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-crash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('ok/every acknowledged issuance and revocation survives; serials unique; CRL numbers only grow; database intact; back within 5 s', async () => {
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Crash CA', '--trust-domain', TD]).code).toBe(0);
    const apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'load', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke`]).stdout.trim();
    const caPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    const issuer = readCertificate(readPemLabelled(readFileSync(join(dir, 'intermediate.pem'), 'utf8'), ['CERTIFICATE'], 'intermediate')[0]!);
    let svc: RunningCa = await startCa(dir, { args: ['--rate-limit', '100000'] });
    const ports = { httpsPort: svc.httpsPort, httpPort: svc.httpPort };
    const work = new Workload({ url: () => svc.url, ca: caPem, apiKey, trustDomain: TD }, 16);
    work.start();
    let lastCrlNumber = 0n;
    const restartTimes: number[] = [];
    const problems: string[] = [];
    try {
      for (let kill = 1; kill <= KILLS; kill++) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        svc.child.kill('SIGKILL');
        await svc.stop();
        // What was acknowledged before the kill (clients keep going once the service is back).
        const snapshot = [...work.issued.values()];
        const revoked = [...work.revoked];

        // The database a killed service leaves behind is intact.
        const db = new Database(join(dir, 'ca.db'));
        const integrity = db.pragma('integrity_check', { simple: true });
        db.close();
        if (integrity !== 'ok') problems.push(`kill ${kill}: integrity_check says ${String(integrity)}`);

        const started = performance.now();
        svc = await startCa(dir, { ...ports, args: ['--rate-limit', '100000'] });
        for (;;) {
          const r = await get(`${svc.httpUrl}/healthz`).catch(() => null);
          if (r?.status === 200) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        restartTimes.push(performance.now() - started);

        // Everything acknowledged before the kill is stored, with its identity; revocations are stored.
        const check = new Database(join(dir, 'ca.db'), { readonly: true });
        const find = check.prepare<[string], { spiffe_id: string; revoked_at: number | null }>('SELECT spiffe_id, revoked_at FROM certificates WHERE serial = ?');
        for (const a of snapshot) {
          const row = find.get(a.serial);
          if (!row) problems.push(`kill ${kill}: acknowledged ${a.serial} is not stored`);
          else if (row.spiffe_id !== a.spiffeId) problems.push(`kill ${kill}: ${a.serial} stored as ${row.spiffe_id}, acknowledged as ${a.spiffeId}`);
        }
        for (const s of revoked) if (find.get(s)?.revoked_at == null) problems.push(`kill ${kill}: acknowledged revocation of ${s} is not stored`);
        check.close();

        // The CRL the restarted service publishes lists every acknowledged revocation, under a larger number.
        const crlDer = (await get(`${svc.httpUrl}/crl/intermediate.crl`)).body;
        const number = readCrl(crlDer).number ?? 0n;
        if (number <= lastCrlNumber) problems.push(`kill ${kill}: CRL number ${number} after ${lastCrlNumber}`);
        lastCrlNumber = number;
        const listed = new Set(new x509.X509Crl(crlDer).entries.map((e) => e.serialNumber.toLowerCase()));
        for (const s of revoked) if (!listed.has(s)) problems.push(`kill ${kill}: revoked ${s} missing from CRL ${number}`);

        // And OCSP says revoked for a sample of them.
        for (const s of revoked.slice(-5)) {
          const leaf = readCertificate(readPemLabelled(work.issued.get(s)!.cert, ['CERTIFICATE'], 'leaf')[0]!);
          const { der, nonce } = ocspRequestFor(leaf, issuer);
          const answer = await get(`${svc.httpUrl}/ocsp`, { method: 'POST', body: der, contentType: 'application/ocsp-request' });
          const status = verifyOcspResponse(answer.body, { leaf, issuer, nonce, now: new Date() }).status;
          if (status !== 'revoked') problems.push(`kill ${kill}: OCSP says ${status} for revoked ${s}`);
        }
      }
    } finally {
      await work.stop();
      await svc.stop();
    }
    const acknowledged = work.stats.sign.ok + work.stats.renew.ok;
    recordFigures('crash', {
      kills: KILLS,
      acknowledgedIssuances: acknowledged,
      acknowledgedRevocations: work.revoked.size,
      foundAfterRestarts: acknowledged - problems.filter((p) => p.includes('not stored')).length,
      requestsLostToKills: work.stats.sign.lost + work.stats.renew.lost + work.stats.revoke.lost,
      slowestRestartMs: Math.round(Math.max(...restartTimes)),
      lastCrlNumber: Number(lastCrlNumber),
    });
    expect(problems, problems.slice(0, 20).join('\n')).toEqual([]);
    expect(work.repeated, 'a serial acknowledged twice').toEqual([]);
    expect(work.unexpected, work.unexpected.slice(0, 10).join('\n')).toEqual([]);
    expect(acknowledged).toBeGreaterThan(KILLS * 5);
    expect(work.revoked.size).toBeGreaterThan(0);
    expect(Math.max(...restartTimes), `restart times ${restartTimes.map(Math.round).join(', ')} ms`).toBeLessThan(5000); // a liveness bound, not a speed target (that is make bench)
  }, 60_000 + KILLS * 12_000);
});
