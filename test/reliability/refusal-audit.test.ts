// Refused authentication is audited: every kind of bad credential and rate-limit refusal leaves a row naming the
// actor the request claimed, aggregated per actor and reason per second, so a flood cannot grow the log without bound.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAIRS_PER_WINDOW } from '../../src/auth/refusals.js';
import { recordFigures } from '../helpers/figures.js';
import { ca, caJson } from '../helpers/run.js';
import { startCa, type RunningCa } from '../helpers/service.js';
import { call } from '../helpers/workload.js';

const TD = 'acme.internal';
const EACH = 3;
const FLOOD = 400;

interface Row {
  id: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  detail: { code: string; count: number; remoteAddresses: string[]; actors?: string[] } | null;
}

describe('refused authentication in the audit log', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let rootPem: string;
  const out = (name: string) => join(root, name);
  const pair = (name: string) => ({ cert: readFileSync(out(`${name}.pem`), 'utf8'), key: readFileSync(out(`${name}.key`), 'utf8') });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-refusals-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Refusal CA', '--trust-domain', TD]).code).toBe(0);
    expect(ca(['init', '--dir', out('other'), '--name', 'Impostor CA', '--trust-domain', TD]).code).toBe(0);
    svc = await startCa(dir, { args: ['--rate-limit', '2'] });
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('ok/each kind of refusal is counted under the claimed actor and reason; a flood of distinct actors stays within a bounded number of rows', async () => {
    const key = (name: string, extra: string[] = []) => ca(['apikey', 'create', '--dir', dir, '--name', name, '--scope', 'list,issue:dns:*.acme.internal', ...extra]).stdout.trim();
    const good = key('good');
    const revoked = key('revoked');
    expect(ca(['apikey', 'revoke', 'revoked', '--dir', dir]).code).toBe(0);
    const expired = key('brief', ['--expires', '1s']);
    const tokenJson = caJson<{ token: string; jti: string }>(['token', 'late', '--dir', dir, '--dns', 'late.acme.internal', '--ttl', '1s']);
    const issue = (d: string, name: string) => expect(ca(['issue', name, '--dir', d, '--spiffe-id', `spiffe://${TD}/${name}`, '--cert-out', out(`${name}.pem`), '--key-out', out(`${name}.key`)]).code).toBe(0);
    issue(out('other'), 'impostor');
    issue(dir, 'gone');
    expect(ca(['revoke', '--cert', out('gone.pem'), '--dir', dir]).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2100));
    const serialOf = (name: string) => caJson<Array<{ serial: string }>>(['inspect', out(`${name}.pem`)])[0]!.serial;

    const [, goodId] = good.split('_');
    const unknownId = randomBytes(8).toString('hex');
    const kinds: Array<{ name: string; actor: string; code: string; send: () => Promise<{ status: number }> }> = [
      { name: 'no credential', actor: 'anonymous', code: 'ERR_UNAUTHENTICATED', send: () => list() },
      { name: 'unknown API key', actor: `claimed:apikey-id:${unknownId}`, code: 'ERR_APIKEY_INVALID', send: () => list(`mca_${unknownId}_${'A'.repeat(43)}`) },
      { name: 'wrong secret', actor: 'claimed:apikey:good', code: 'ERR_APIKEY_INVALID', send: () => list(`mca_${goodId}_${'B'.repeat(43)}`) },
      { name: 'revoked API key', actor: 'claimed:apikey:revoked', code: 'ERR_APIKEY_REVOKED', send: () => list(revoked) },
      { name: 'expired API key', actor: 'claimed:apikey:brief', code: 'ERR_APIKEY_EXPIRED', send: () => list(expired) },
      { name: 'garbage bearer', actor: 'claimed:bearer:?', code: 'ERR_UNAUTHENTICATED', send: () => list('not-a-credential') },
      { name: 'expired token', actor: `claimed:token:${tokenJson.jti}`, code: 'ERR_TOKEN_EXPIRED', send: () => sign(tokenJson.token) },
      { name: 'foreign certificate', actor: `claimed:cert:spiffe://${TD}/impostor#${serialOf('impostor')}`, code: 'ERR_CERTIFICATE_UNTRUSTED', send: () => renew(pair('impostor')) },
      { name: 'revoked certificate', actor: `claimed:cert:spiffe://${TD}/gone#${serialOf('gone')}`, code: 'ERR_CERTIFICATE_REVOKED', send: () => renew(pair('gone')) },
    ];
    function list(bearer?: string) {
      return call(`${svc.url}/v1/certificates`, { ca: rootPem, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    }
    function sign(bearer: string) {
      return call(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: 'x', name: 'late', dnsNames: ['late.acme.internal'] }) });
    }
    function renew(c: { cert: string; key: string }) {
      return call(`${svc.url}/v1/renew`, { method: 'POST', ca: rootPem, headers: { 'content-type': 'application/json' }, body: '{}', ...c });
    }
    for (const k of kinds) for (let i = 0; i < EACH; i++) expect([k.name, (await k.send()).status]).toEqual([k.name, 401]);

    // Rate limit: 2 sign requests per second per key; the rest of a burst of 12 are refused.
    const burst = await Promise.all(Array.from({ length: 12 }, () => sign(good)));
    const limited = burst.filter((r) => r.status === 429).length;
    expect(limited).toBeGreaterThanOrEqual(8);

    // Refusals after authentication are aggregated the same way: a holder of a narrow key asking for the audit log.
    const askedAt = Date.now();
    for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, () => call(`${svc.url}/v1/audit`, { ca: rootPem, headers: { authorization: `Bearer ${good}` } })));

    // A flood of distinct claimed actors (random key ids), as fast as one client can send them.
    // One row per second-long window at most, however slow the machine made the 300 requests.
    const askedSeconds = Math.ceil((Date.now() - askedAt) / 1000) + 1;
    const started = Date.now();
    for (let i = 0; i < FLOOD; i += 50) await Promise.all(Array.from({ length: 50 }, () => list(`mca_${randomBytes(8).toString('hex')}_${'C'.repeat(43)}`)));
    const floodSeconds = Math.ceil((Date.now() - started) / 1000) + 1;
    // Rows are written when their window closes: a second, or longer while the flood filled them.
    const counted = (rows: Row[]) => rows.filter((r) => r.action === 'authenticate' && r.detail?.code === 'ERR_APIKEY_INVALID' && r.actor !== 'claimed:apikey:good').reduce((n, r) => n + r.detail!.count, 0);
    let all = caJson<Row[]>(['audit', '--dir', dir]);
    for (let i = 0; i < 20 && counted(all) < FLOOD + EACH; i++) {
      await new Promise((r) => setTimeout(r, 500));
      all = caJson<Row[]>(['audit', '--dir', dir]);
    }
    const forbidden = all.filter((r) => r.actor === 'apikey:good' && r.action === 'GET /v1/audit' && r.outcome === 'refused');
    expect(forbidden.reduce((n, r) => n + r.detail!.count, 0)).toBe(300);
    expect(forbidden.length).toBeLessThanOrEqual(Math.max(5, askedSeconds));
    expect(all.filter((r) => r.actor === 'apikey:good' && r.action === 'POST /v1/sign' && r.detail?.code === 'ERR_RATE_LIMITED').reduce((n, r) => n + r.detail!.count, 0)).toBe(limited);
    const rows = all.filter((r) => r.action === 'authenticate');
    expect(rows.every((r) => r.outcome === 'refused')).toBe(true);
    const sum = (pred: (r: Row) => boolean) => rows.filter(pred).reduce((n, r) => n + r.detail!.count, 0);
    for (const k of kinds.filter((k) => k.name !== 'unknown API key')) {
      expect([k.name, sum((r) => r.actor === k.actor && r.detail!.code === k.code)]).toEqual([k.name, EACH]);
    }
    // Every refused unknown key is counted, under its own id or, past the per-second cap, under (others).
    expect(sum((r) => r.detail!.code === 'ERR_APIKEY_INVALID' && (r.actor.startsWith('claimed:apikey-id:') || r.actor === '(others)'))).toBe(FLOOD + EACH);
    const perSecond = new Map<string, number>();
    for (const r of rows) perSecond.set(r.at, (perSecond.get(r.at) ?? 0) + 1);
    const codes = new Set(rows.map((r) => r.detail!.code)).size;
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(MAX_PAIRS_PER_WINDOW + codes);
    expect(rows.filter((r) => r.detail!.code === 'ERR_APIKEY_INVALID').length).toBeLessThanOrEqual(floodSeconds * (MAX_PAIRS_PER_WINDOW + 1) + 2);
    expect(rows.every((r) => r.detail!.remoteAddresses.every((a) => a.includes('127.0.0.1')))).toBe(true);
    recordFigures('refusal-audit', { refused: kinds.length * EACH + limited + 300 + FLOOD, rows: rows.length + forbidden.length, maxRowsPerSecond: Math.max(...perSecond.values()) });

    // The request log names the claimed actor of each refused request; no secret is in it.
    const lines = svc.log().split('\n').filter((l) => l.includes('"claimedActor"'));
    expect(lines.some((l) => l.includes('"claimedActor":"apikey:revoked"') && l.includes('"statusCode":401'))).toBe(true);
    expect(svc.log()).not.toContain(good.slice(21) /* the secret: after mca_<16 hex>_; base64url may hold '_' */);
    expect(caJson<{ ok: boolean }>(['audit', 'verify', '--dir', dir]).ok).toBe(true);
    // The table shows each refusal's code and count, and shortens long actors instead of padding every row to them.
    const shown = ca(['audit', '--dir', dir]).stdout.split('\n');
    expect(shown.some((l) => / refused ERR_APIKEY_INVALID( ×\d+)?$/.test(l))).toBe(true);
    expect(Math.max(...shown.map((l) => l.indexOf('authenticate')).filter((i) => i > 0))).toBeLessThan(80);
  });
});
