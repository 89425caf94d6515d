// Lineage and identity revocation end to end: a real `ca serve`, the built CLI (local and remote) and raw API calls.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ca, caJson, openssl, type RunResult } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import type { MassRevocationJson, SelectedCertificate } from '../../src/authority/mass-revocation.js';

const TD = 'acme.internal';

interface Listed {
  serial: string;
  spiffeId: string | null;
  status: string;
  renewedFrom: string | null;
  renewedTo: string[];
}
type Selected = SelectedCertificate;
type ManyRevoked = MassRevocationJson;

function usageError(r: RunResult, text: string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(text);
  expect(r.stderr).toContain('[ERR_USAGE]');
}

describe('ca revoke --lineage / --identity, POST /v1/revocations', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let remote: string[];
  let rootPem: string;
  let opsKey: string;
  let listKey: string;
  /** first → second → third → fourth (same key), fourth → rekeyed (new key). */
  let lineage: string[];
  let web: string;
  let dev: string;

  const out = (name: string) => join(root, name);
  const enroll = (name: string, spiffeId: string): string => {
    const token = ca(['token', name, '--dir', dir, '--spiffe-id', spiffeId]).stdout.trim();
    return caJson<{ serial: string }>(['issue', name, ...remote, '--token', token, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`), '--force']).serial;
  };
  const renew = (name: string, rekey = false): string => caJson<{ serial: string }>(['renew', ...remote, '--cert', out(`${name}.pem`), '--key', out(`${name}.key`), ...(rekey ? ['--rekey'] : [])]).serial;
  const list = (): Listed[] => caJson<Listed[]>(['list', '--dir', dir]);
  const statuses = () => JSON.stringify(list().map((c) => [c.serial, c.status]).sort());
  const audit = () => caJson<Array<{ action: string; target: string | null; outcome: string; detail?: Record<string, unknown> }>>(['audit', '--dir', dir, '--limit', '10000']);
  const post = (body: unknown, key: string | null = opsKey) =>
    httpsRequest(`${svc.url}/v1/revocations`, { method: 'POST', ca: rootPem, headers: { 'content-type': 'application/json', ...(key !== null ? { authorization: `Bearer ${key}` } : {}) }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-lineage-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Lineage CA', '--trust-domain', TD]).code).toBe(0);
    svc = await startCa(dir);
    remote = ['--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem')];
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    opsKey = ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', 'revoke', '--scope', 'list']).stdout.trim();
    listKey = ca(['apikey', 'create', '--dir', dir, '--name', 'reader', '--scope', 'list']).stdout.trim();
    writeFileSync(out('ops.key'), `${opsKey}\n`, { mode: 0o600 });
    const first = enroll('api', `spiffe://${TD}/ns/prod/api`);
    lineage = [first, renew('api'), renew('api'), renew('api'), renew('api', true)];
    web = enroll('web', `spiffe://${TD}/ns/prod/web`);
    dev = enroll('dev', `spiffe://${TD}/ns/dev/api`);
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('ok/ca list (local and remote) and GET /v1/certificates/{serial} show renewedFrom and renewedTo', async () => {
    const byserial = new Map(list().map((c) => [c.serial, c]));
    lineage.forEach((serial, i) => {
      expect(byserial.get(serial)).toMatchObject({ renewedFrom: i === 0 ? null : lineage[i - 1], renewedTo: i === lineage.length - 1 ? [] : [lineage[i + 1]] });
    });
    expect(byserial.get(web)).toMatchObject({ renewedFrom: null, renewedTo: [] });
    const remoteList = caJson<Listed[]>(['list', ...remote, '--api-key-file', out('ops.key')]);
    expect(remoteList.find((c) => c.serial === lineage[1])).toMatchObject({ renewedFrom: lineage[0], renewedTo: [lineage[2]] });
    const human = ca(['list', '--dir', dir]).stdout;
    expect(human.split('\n')[0]).toMatch(/LINEAGE$/);
    expect(human.split('\n').find((l) => l.startsWith(lineage[1]!))).toContain(`from ${lineage[0]}; to ${lineage[2]}`);
    const one = await httpsRequest(`${svc.url}/v1/certificates/${lineage[0]}`, { ca: rootPem, headers: { authorization: `Bearer ${opsKey}` } });
    expect(one.json()).toMatchObject({ serial: lineage[0], renewedFrom: null, renewedTo: [lineage[1]] });
  });

  it.each([
    ['fail/no body', undefined, 400, 'ERR_BODY_INVALID'],
    ['fail/neither lineage nor identity', { reason: 'superseded' }, 400, 'ERR_BODY_INVALID'],
    ['fail/both lineage and identity', { lineage: '01', identity: 'dns:x.acme.internal' }, 400, 'ERR_BODY_INVALID'],
    ['fail/a lineage that is no serial', { lineage: 'zz' }, 400, 'ERR_BODY_INVALID'],
    ['fail/a lineage of a number', { lineage: 12 }, 400, 'ERR_BODY_INVALID'],
    ['fail/an unknown serial', { lineage: '0abc' }, 404, 'ERR_CERTIFICATE_NOT_FOUND'],
    ['fail/an invalid pattern', { identity: 'dns:a..b' }, 400, 'ERR_PATTERN_INVALID'],
    ['fail/dryRun not a boolean', { identity: 'dns:x.acme.internal', dryRun: 'yes' }, 400, 'ERR_BODY_INVALID'],
    ['fail/an unknown field', { identity: 'dns:x.acme.internal', force: true }, 400, 'ERR_BODY_INVALID'],
    ['fail/an unknown reason', { identity: 'dns:x.acme.internal', reason: 'certificateHold' }, 400, 'ERR_REVOCATION_REASON_INVALID'],
    ['fail/not JSON', '{"lineage":', 400, 'ERR_BODY_INVALID'],
  ])('%s: a JSON 4xx, nothing changed', async (_n, body, status, code) => {
    const before = statuses();
    const r = body === undefined ? await httpsRequest(`${svc.url}/v1/revocations`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${opsKey}` } }) : await post(body);
    expect(r.status, r.body).toBe(status);
    expect(r.json().error.code).toBe(code);
    expect(statuses()).toBe(before);
  });

  it('fail/an API key without the revoke scope, no credential, a certificate holder: 403, 401, 403', async () => {
    const before = statuses();
    expect((await post({ lineage: lineage[0] }, listKey)).json().error).toMatchObject({ code: 'ERR_FORBIDDEN', message: expect.stringContaining('lacks the revoke scope') });
    expect((await post({ lineage: lineage[0] }, null)).status).toBe(401);
    const mtls = await httpsRequest(`${svc.url}/v1/revocations`, { method: 'POST', ca: rootPem, cert: readFileSync(out('web.pem'), 'utf8'), key: readFileSync(out('web.key'), 'utf8'), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lineage: web }) });
    expect(mtls.status).toBe(401);
    expect(statuses()).toBe(before);
  });

  it('fail/CLI usage: one selector at a time, --dry-run only with one, --key not with one', () => {
    usageError(ca(['revoke', lineage[0]!, '--lineage', lineage[0]!, '--dir', dir]), 'give one of SERIAL, --cert FILE, --lineage SERIAL or --identity PATTERN (got --lineage and SERIAL)');
    usageError(ca(['revoke', '--lineage', lineage[0]!, '--identity', 'dns:x.acme.internal', '--dir', dir]), '(got --lineage and --identity)');
    usageError(ca(['revoke', '--cert', out('api.pem'), '--identity', 'dns:x.acme.internal', '--dir', dir]), '(got --identity and --cert)');
    usageError(ca(['revoke', lineage[0]!, '--dry-run', '--dir', dir]), '--dry-run goes with --lineage SERIAL or --identity PATTERN');
    usageError(ca(['revoke', '--lineage', 'zz', '--dir', dir]), '"zz" is not a serial number');
    usageError(ca(['revoke', '--lineage', lineage[0]!, ...remote, '--cert', out('api.pem'), '--key', out('api.key')]), 'give one of');
    const bad = ca(['revoke', '--identity', 'dns:a..b', '--dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[ERR_PATTERN_INVALID]');
  });

  it('ok/--dry-run (local and remote) lists what would be revoked and changes nothing', () => {
    const before = statuses();
    const auditBefore = audit();
    const local = caJson<ManyRevoked>(['revoke', '--lineage', lineage[0]!, '--dry-run', '--dir', dir]);
    expect(local).toMatchObject({ dryRun: true, reason: 'unspecified', lineage: lineage[0], alreadyRevoked: [], expired: [], skipped: [], keyBlocked: false });
    expect(local.revoked.map((c) => c.serial).sort()).toEqual([...lineage].sort());
    expect(audit()).toEqual(auditBefore);

    const human = ca(['revoke', '--identity', `spiffe:spiffe://${TD}/ns/prod/*`, '--dry-run', ...remote, '--api-key-file', out('ops.key')]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('dry run: nothing was changed');
    expect(human.stdout).toContain(`would revoke (identity spiffe://${TD}/ns/prod/*, reason unspecified) (6):`);
    for (const s of [...lineage, web]) expect(human.stdout).toMatch(new RegExp(`^  ${s}  spiffe://${TD}/ns/prod/(api|web)`, 'm'));
    expect(human.stdout).not.toContain(dev);
    expect(statuses()).toBe(before);
    // The remote dry run is a read of the inventory: audited as one, and nothing else.
    const added = audit().slice(auditBefore.length);
    expect(added.map((a) => `${a.action} ${a.outcome}`)).toEqual(['revoke-dry-run ok']);
    expect(added[0]!.detail).toMatchObject({ identity: `spiffe://${TD}/ns/prod/*`, wouldRevoke: 6 });
  });

  it('ok/--identity revokes exactly the matching ones; --lineage on the first revokes the whole lineage, published by the service', async () => {
    const byIdentity = caJson<ManyRevoked>(['revoke', '--identity', `spiffe:spiffe://${TD}/ns/prod/web`, '--reason', 'cessationOfOperation', '--dir', dir]);
    expect(byIdentity.revoked.map((c) => c.serial)).toEqual([web]);
    expect(list().filter((c) => c.status === 'revoked').map((c) => c.serial)).toEqual([web]);

    const auditBefore = audit().length;
    const r = ca(['revoke', '--lineage', lineage[0]!, '--reason', 'superseded', ...remote, '--api-key-file', out('ops.key')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`revoked (the lineage of ${lineage[0]}, reason superseded) (5):`);
    for (const s of lineage) expect(r.stdout).toMatch(new RegExp(`^  ${s}  spiffe://${TD}/ns/prod/api`, 'm'));
    const revoked = list().filter((c) => c.status === 'revoked').map((c) => c.serial).sort();
    expect(revoked).toEqual([...lineage, web].sort());
    const rows = audit().slice(auditBefore).filter((a) => a.action === 'revoke');
    expect(rows.map((a) => a.target).sort()).toEqual([...lineage].sort());
    for (const row of rows) expect(row).toMatchObject({ outcome: 'ok', detail: { reason: 'superseded', lineage: lineage[0] } });

    // The service publishes each one: the intermediate's CRL lists them within a second or two.
    let crl = '';
    for (let i = 0; i < 40 && !lineage.every((s) => crl.toLowerCase().includes(s)); i++) {
      await new Promise((done) => setTimeout(done, 250));
      writeFileSync(out('crl.pem'), await (await fetch(`${svc.httpUrl}/crl/intermediate.pem`)).text());
      crl = openssl(['crl', '-in', out('crl.pem'), '-noout', '-text']).stdout.replace(/Serial Number: /g, '\n').replace(/[^0-9a-fA-F\n]/g, '');
    }
    for (const s of [...lineage, web]) expect(crl.toLowerCase()).toContain(s);

    // Again, over the API: everything already revoked, nothing changed.
    const again = (await post({ lineage: lineage[0] })).json() as ManyRevoked;
    expect(again.revoked).toEqual([]);
    expect(again.alreadyRevoked.map((c) => c.serial).sort()).toEqual([...lineage].sort());
    expect(list().find((c) => c.serial === dev)!.status).toBe('valid');
  });
});
