// Weak subject keys are never certified: every case of the table is refused with ERR_KEY_WEAK and its reason, over
// the API (sign, and renewal with a new key), by `ca issue --csr`, and nothing is stored.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordFigures } from '../helpers/figures.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { goodCsr, weakKeyCases } from '../helpers/weak-keys.js';

const TD = 'acme.internal';

describe('weak keys', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let rootPem: string;
  let apiKey: string;
  let holder: { cert: string; key: string };
  const cases = weakKeyCases();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-weak-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Weak CA', '--trust-domain', TD]).code).toBe(0);
    apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'weak', '--scope', 'issue:dns:*.acme.internal']).stdout.trim();
    expect(ca(['issue', 'holder', '--dir', dir, '--dns', 'holder.acme.internal', '--cert-out', join(root, 'holder.pem'), '--key-out', join(root, 'holder.key')]).code).toBe(0);
    holder = { cert: readFileSync(join(root, 'holder.pem'), 'utf8'), key: readFileSync(join(root, 'holder.key'), 'utf8') };
    svc = await startCa(dir);
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const serials = () => caJson<Array<{ serial: string }>>(['list', '--dir', dir]).map((c) => c.serial).sort();
  const post = (path: string, body: unknown, auth: { bearer?: string; cert?: string; key?: string }) =>
    httpsRequest(`${svc.url}${path}`, { ca: rootPem, method: 'POST', headers: { 'content-type': 'application/json', ...(auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}) }, body: JSON.stringify(body), ...(auth.cert ? { cert: auth.cert, key: auth.key } : {}) });

  it('ok/good keys of every accepted type are signed', async () => {
    for (const [type, key] of [['ec', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey], ['rsa', generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey], ['ed25519', generateKeyPairSync('ed25519').privateKey]] as const) {
      const r = await post('/v1/sign', { csr: goodCsr(key), name: `good-${type}`, dnsNames: [`good-${type}.acme.internal`] }, { bearer: apiKey });
      expect([type, r.status]).toEqual([type, 201]);
    }
  });

  it('fail/every weak key of the table: sign, renew with a new key and ca issue --csr all refuse it, storing nothing', async () => {
    const before = serials();
    const table: Array<{ key: string; sign: string; rekey: string; cli: string; reason: string }> = [];
    const wrong: string[] = [];
    for (const c of cases) {
      const signed = await post('/v1/sign', { csr: c.csr, name: 'weak', dnsNames: ['weak.acme.internal'] }, { bearer: apiKey });
      const rekeyed = await post('/v1/renew', { csr: c.csr }, holder);
      const csrPath = join(root, 'weak.csr');
      writeFileSync(csrPath, c.csr);
      const local = ca(['issue', 'weak', '--dir', dir, '--dns', 'weak.acme.internal', '--csr', csrPath, '--cert-out', join(root, 'weak.pem')]);
      const codeOf = (r: { status: number; json: () => any }) => (r.status === 400 ? r.json().error.code : `HTTP ${r.status}`);
      const row = { key: c.name, sign: codeOf(signed), rekey: codeOf(rekeyed), cli: /\[(ERR_[A-Z_]+)\]/.exec(local.stderr)?.[1] ?? `exit ${local.code}`, reason: signed.status === 400 ? signed.json().error.message : '' };
      table.push(row);
      if (row.sign !== 'ERR_KEY_WEAK' || row.rekey !== 'ERR_KEY_WEAK' || row.cli !== 'ERR_KEY_WEAK') wrong.push(`${c.name}: ${JSON.stringify(row)}`);
      if (!row.reason.includes(c.reason)) wrong.push(`${c.name}: reason "${row.reason}" lacks "${c.reason}"`);
      if (local.stderr.trimEnd().split('\n').length !== 1) wrong.push(`${c.name}: CLI error is not one line: ${local.stderr}`);
    }
    recordFigures('weak-keys', { cases: table });
    expect(wrong, wrong.join('\n')).toEqual([]);
    expect(serials()).toEqual(before);
    expect(svc.log()).not.toMatch(/"level":50/);
  });
});
