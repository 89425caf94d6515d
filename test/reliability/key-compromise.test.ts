// Key compromise covers the key, not one serial: every unexpired leaf with it is revoked and the key is blocked for
// sign, renew and rekey; and a stolen key cannot fork a lineage quietly (a second renewal after the grace is refused).

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateKeyToPem } from '../../src/crypto/keys.js';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';
import { goodCsr, reencodedCsr } from '../helpers/weak-keys.js';

const TD = 'acme.internal';
const GRACE_SECONDS = 2;

describe('key compromise and lineage', () => {
  let root: string;
  let dir: string;
  let svc: RunningCa;
  let rootPem: string;
  let apiKey: string;
  const out = (name: string) => join(root, name);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'meshca-keycomp-'));
    dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Compromise CA', '--trust-domain', TD]).code).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, renewalGrace: `${GRACE_SECONDS}s` }));
    apiKey = ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', `issue:spiffe:spiffe://${TD}/**,revoke,list`]).stdout.trim();
    svc = await startCa(dir);
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, auth: { bearer?: string; cert?: string; key?: string }) =>
    httpsRequest(`${svc.url}${path}`, { ca: rootPem, method: 'POST', headers: { 'content-type': 'application/json', ...(auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}) }, body: JSON.stringify(body), ...(auth.cert ? { cert: auth.cert, key: auth.key } : {}) });
  const issue = async (name: string, keyPem?: string) => {
    const key = keyPem ?? privateKeyToPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const { createPrivateKey } = await import('node:crypto');
    const r = await post('/v1/sign', { csr: goodCsr(createPrivateKey(key)), name, spiffeId: `spiffe://${TD}/${name}` }, { bearer: apiKey });
    return { status: r.status, body: r.json(), key, cert: r.status === 201 ? `${r.json().certificate}${r.json().chain}` : '' };
  };
  const renew = (holder: { cert: string; key: string }, body: unknown = {}) => post('/v1/renew', body, holder);
  const status = (serial: string) => caJson<Array<{ serial: string; status: string; reason: string | null }>>(['list', '--dir', dir]).find((c) => c.serial === serial);

  it('fail/keyCompromise over the API revokes the earlier certificate with the same key, and the key is refused for sign, renew and rekey', async () => {
    const a = await issue('pay');
    expect(a.status).toBe(201);
    const renewed = await renew(a);
    expect(renewed.status).toBe(201);
    const b = { cert: `${renewed.json().certificate}${renewed.json().chain}`, key: a.key, serial: renewed.json().serial as string };

    const revoked = await post(`/v1/certificates/${b.serial}/revoke`, { reason: 'keyCompromise' }, { bearer: apiKey });
    expect(revoked.status).toBe(200);
    expect(revoked.json()).toMatchObject({ serial: b.serial, reason: 'keyCompromise', alreadyRevoked: false, keyBlocked: true, alsoRevoked: [a.body.serial] });
    expect(status(a.body.serial)).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });

    // The earlier certificate no longer renews; the key is refused however it is presented.
    const again = await renew(a);
    expect([again.status, again.json().error.code]).toEqual([401, 'ERR_CERTIFICATE_REVOKED']);
    const resigned = await issue('pay', a.key);
    expect([resigned.status, resigned.body.error.code]).toEqual([403, 'ERR_KEY_BLOCKED']);
    const other = await issue('other');
    const { createPrivateKey } = await import('node:crypto');
    const rekey = await renew(other, { csr: goodCsr(createPrivateKey(a.key)) });
    expect([rekey.status, rekey.json().error.code]).toEqual([403, 'ERR_KEY_BLOCKED']);
    // The same key written another way (an extra NULL in its AlgorithmIdentifier) is not a way around the block.
    const reencoded = await post('/v1/sign', { csr: reencodedCsr(createPrivateKey(a.key), 'EC with a trailing NULL'), name: 'pay', spiffeId: `spiffe://${TD}/pay` }, { bearer: apiKey });
    expect([reencoded.status, reencoded.json().error.code]).toEqual([400, 'ERR_CSR_MALFORMED']);
    writeFileSync(out('stolen.csr'), goodCsr(createPrivateKey(a.key)));
    expectOneLineError(ca(['issue', 'pay', '--dir', dir, '--spiffe-id', `spiffe://${TD}/pay`, '--csr', out('stolen.csr'), '--cert-out', out('x.pem')]), 'ERR_KEY_BLOCKED', 'reported compromised');

    // Both revocations reach the published CRL.
    await new Promise((r) => setTimeout(r, 1500));
    const crl = caJson<{ intermediate: { number: string } }>(['crl', '--ca-url', svc.httpUrl, '--ca-bundle', join(dir, 'root.pem'), '--out', out('crl.der')]);
    expect(Number(crl.intermediate.number)).toBeGreaterThan(1);
    const inspected = caJson<{ revoked: Array<{ serial: string; reason: string }> }>(['inspect', out('crl.der')]);
    expect(inspected.revoked).toEqual(expect.arrayContaining([expect.objectContaining({ serial: a.body.serial, reason: 'keyCompromise' }), expect.objectContaining({ serial: b.serial, reason: 'keyCompromise' })]));

    const audit = caJson<Array<{ action: string; target: string; detail: Record<string, unknown> | null }>>(['audit', '--dir', dir]);
    expect(audit.find((r) => r.action === 'key-block')?.target).toBe(b.serial);
    expect(audit.find((r) => r.action === 'revoke' && r.target === a.body.serial)?.detail).toMatchObject({ reason: 'keyCompromise', sameKeyAs: b.serial });
  });

  it('fail/keyCompromise with ca revoke --dir does the same, even for a certificate revoked earlier for another reason', async () => {
    const a = await issue('cli-a');
    const renewed = await renew(a);
    const bSerial = renewed.json().serial as string;
    expect(caJson(['revoke', a.body.serial, '--dir', dir, '--reason', 'superseded'])).toMatchObject({ alreadyRevoked: false, keyBlocked: false, alsoRevoked: [] });
    const r = ca(['revoke', a.body.serial, '--dir', dir, '--reason', 'keyCompromise']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('its key is blocked');
    expect(r.stdout).toContain(`also revoked (same key): ${bSerial}`);
    expect(status(bSerial)).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
    const resigned = await issue('cli-a', a.key);
    expect(resigned.body.error.code).toBe('ERR_KEY_BLOCKED');
  });

  it(`ok/a same-key repeat within ${GRACE_SECONDS}s (a lost response) gets the same successor again: no second branch`, async () => {
    const c = await issue('replay');
    const first = await renew(c);
    const again = await renew(c);
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.json().serial).toBe(first.json().serial);
    expect(again.json().certificate).toBe(first.json().certificate);
    const rows = caJson<Array<{ action: string; outcome: string; target: string; detail: Record<string, unknown> | null }>>(['audit', '--dir', dir]);
    expect(rows.filter((r) => r.action === 'renew' && r.detail?.predecessor === c.body.serial)).toEqual([expect.objectContaining({ outcome: 'noop', target: first.json().serial, detail: expect.objectContaining({ replayed: first.json().serial }) })]);
  });

  it('ok/a repeat with a new key within the grace supersedes the earlier successor, revoking it, with a flagged audit row', async () => {
    const { createPrivateKey, generateKeyPairSync: gen } = await import('node:crypto');
    const c = await issue('rekeyed');
    const first = await renew(c);
    const second = await renew(c, { csr: goodCsr(createPrivateKey(privateKeyToPem(gen('ec', { namedCurve: 'P-256' }).privateKey))) });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(status(first.json().serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    expect(status(second.json().serial)).toMatchObject({ status: 'valid' });
    const rows = caJson<Array<{ action: string; target: string; detail: Record<string, unknown> | null }>>(['audit', '--dir', dir]);
    expect(rows.find((r) => r.action === 'renew' && r.target === second.json().serial)?.detail).toMatchObject({ lineage: 'repeat', supersedes: [first.json().serial] });
    expect(rows.find((r) => r.action === 'revoke' && r.target === first.json().serial)?.detail).toMatchObject({ reason: 'superseded', supersededBy: second.json().serial });
  });

  it('fail/a thief who rekeys a stolen certificate revokes the holder\'s successor (loudly), and keyCompromise then revokes the thief\'s whole lineage too', async () => {
    const { createPrivateKey, generateKeyPairSync: gen } = await import('node:crypto');
    const victim = await issue('victim');
    const holders = await renew(victim);
    const thiefKey = privateKeyToPem(gen('ec', { namedCurve: 'P-256' }).privateKey);
    const thiefs = await renew(victim, { csr: goodCsr(createPrivateKey(thiefKey)) });
    expect(thiefs.status).toBe(201);
    // The holder's certificate is revoked within the grace: its next use fails, which is how the theft shows.
    const holderNext = await renew({ cert: `${holders.json().certificate}${holders.json().chain}`, key: victim.key });
    expect([holderNext.status, holderNext.json().error.code]).toEqual([401, 'ERR_CERTIFICATE_REVOKED']);
    const thiefNext = await renew({ cert: `${thiefs.json().certificate}${thiefs.json().chain}`, key: thiefKey });
    expect(thiefNext.status).toBe(201);
    const r = await post(`/v1/certificates/${victim.body.serial}/revoke`, { reason: 'keyCompromise' }, { bearer: apiKey });
    expect(r.json()).toMatchObject({ keyBlocked: true });
    expect([...r.json().alsoRevoked].sort()).toEqual([thiefs.json().serial, thiefNext.json().serial].sort());
    expect(status(thiefNext.json().serial)).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
    const rows = caJson<Array<{ action: string; target: string; detail: Record<string, unknown> | null }>>(['audit', '--dir', dir]);
    expect(rows.find((x) => x.action === 'revoke' && x.target === thiefNext.json().serial)?.detail).toMatchObject({ reason: 'keyCompromise', renewedWithKeyOf: victim.body.serial });
  });

  it('fail/a repeat within the grace revokes the replaced branch whole: a thief\'s renewals of his rekeyed certificate go with it', async () => {
    const { createPrivateKey, generateKeyPairSync: gen } = await import('node:crypto');
    const newKey = () => privateKeyToPem(gen('ec', { namedCurve: 'P-256' }).privateKey);
    const victim = await issue('branch');
    const k2 = newKey();
    const b = await renew(victim, { csr: goodCsr(createPrivateKey(k2)) });
    const k3 = newKey();
    const b2 = await renew({ cert: `${b.json().certificate}${b.json().chain}`, key: k2 }, { csr: goodCsr(createPrivateKey(k3)) });
    expect([b.status, b2.status]).toEqual([201, 201]);
    // The holder renews the original (a new key of its own): the thief's whole branch is replaced.
    const k4 = newKey();
    const c = await renew(victim, { csr: goodCsr(createPrivateKey(k4)) });
    expect(c.status).toBe(201);
    expect(status(b.json().serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    expect(status(b2.json().serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    const thiefNext = await renew({ cert: `${b2.json().certificate}${b2.json().chain}`, key: k3 });
    expect([thiefNext.status, thiefNext.json().error.code]).toEqual([401, 'ERR_CERTIFICATE_REVOKED']);
    expect((await renew({ cert: `${c.json().certificate}${c.json().chain}`, key: k4 })).status).toBe(201);
  });

  it('ok/same-key renewals racing each other all succeed with one successor: one lineage, and every racer holds it', async () => {
    const c = await issue('race');
    const answers = await Promise.all(Array.from({ length: 8 }, () => renew(c)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
    const successors = new Set(answers.map((a) => a.json().serial as string));
    expect(successors.size).toBe(1);
    for (const serial of successors) expect(status(serial)).toMatchObject({ status: 'valid' });
    expect(caJson<Array<{ renewedFrom: string | null }>>(['list', '--dir', dir]).filter((l) => l.renewedFrom === c.body.serial)).toHaveLength(1);
    for (const a of answers) expect((await renew({ cert: `${a.json().certificate}${a.json().chain}`, key: c.key })).status).toBe(201);
  });

  it(`fail/renewing a certificate that was already renewed is refused after ${GRACE_SECONDS}s, with an audit row that flags the fork`, async () => {
    const c = await issue('lineage');
    const first = await renew(c);
    expect(first.status).toBe(201);
    await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1.5) * 1000));
    const fork = await renew(c);
    expect([fork.status, fork.json().error.code]).toEqual([409, 'ERR_RENEWAL_FORKED']);
    expect(fork.json().error.message).toContain(`certificate ${c.body.serial} was already renewed (as ${first.json().serial} at `);
    // The newest certificate renews as usual.
    const successor = { cert: `${first.json().certificate}${first.json().chain}`, key: c.key };
    expect((await renew(successor)).status).toBe(201);
    // Refusals are written when their window (a second, or longer while busy) closes: wait for it, up to 10 s.
    const forks = () => caJson<Array<{ action: string; outcome: string; detail: Record<string, unknown> | null }>>(['audit', '--dir', dir]).filter((r) => r.outcome === 'refused' && r.detail?.lineage === 'fork');
    let flagged = forks();
    for (let i = 0; i < 40 && flagged.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      flagged = forks();
    }
    expect(flagged).toEqual([expect.objectContaining({ action: 'POST /v1/renew', detail: expect.objectContaining({ code: 'ERR_RENEWAL_FORKED', predecessor: c.body.serial, successor: first.json().serial }) })]);
  });
});
