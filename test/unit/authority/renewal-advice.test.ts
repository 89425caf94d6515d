// Renewal windows: the default window, "renew now" rules (which leaves they cover, which window wins), the stored rules on both backends, and the authority's renewal-info and renew-now.

import { describe, expect, it } from 'vitest';
import type { CertificateRecord } from '../../../src/authority/ports.js';
import { adviceApplies, defaultRenewalWindow, parseIssuedBefore, renewalPollSeconds, renewalWindowFor, type AdviceSelector, type RenewalAdvice } from '../../../src/authority/renewal-advice.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { generateKeyPair, spkiOf } from '../../../src/crypto/keys.js';
import { BACKENDS } from '../../helpers/databases.js';
import { createTestCa, T0, testStore } from '../../helpers/test-ca.js';

const operator = { actor: 'local:test' };
const key = () => ({ spki: spkiOf(generateKeyPair('ec-p256').privateKey) });
const at = (s: string): Date => new Date(s);

/** A 24-hour leaf signed at T0 (notBefore T0, issuedAt T0). */
function leaf(over: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: '4a', kind: 'leaf', issuerKeyId: 'ab', commonName: 'api', spiffeId: 'spiffe://acme.internal/ns/prod/api', dnsNames: ['api.acme.internal'], ipAddresses: ['10.0.0.1'],
    notBefore: T0, notAfter: addSeconds(T0, 86400), der: Buffer.alloc(0), revokedAt: null, reason: null, subjectKeyHash: 'cd', renewedFrom: null, issuedAt: T0, ...over,
  };
}

/** A rule made `afterSeconds` after T0, whose window lasts `within` seconds. */
function rule(id: number, selector: AdviceSelector, afterSeconds: number, within = 600, explanationUrl: string | null = null): RenewalAdvice {
  const createdAt = addSeconds(T0, afterSeconds);
  return { id, createdAt, actor: 'local:test', selector, windowStart: createdAt, windowEnd: addSeconds(createdAt, within), explanationUrl };
}

describe('renewal windows', () => {
  it('ok/the default window is 2/3 to 5/6 of the lifetime', () => {
    expect(defaultRenewalWindow({ notBefore: at('2026-01-01T00:00:00Z'), notAfter: at('2026-01-02T00:00:00Z') })).toEqual({ start: at('2026-01-01T16:00:00Z'), end: at('2026-01-01T20:00:00Z'), explanationUrl: null, adviceId: null });
    // Whole seconds, however the lifetime divides.
    expect(defaultRenewalWindow({ notBefore: at('2026-01-01T00:00:00Z'), notAfter: at('2026-01-01T00:00:10Z') })).toMatchObject({ start: at('2026-01-01T00:00:06Z'), end: at('2026-01-01T00:00:08Z') });
  });

  it.each<[string, AdviceSelector, Partial<CertificateRecord>, boolean]>([
    ['ok/all covers a leaf issued before the rule', { kind: 'all' }, {}, true],
    ['ok/a leaf issued in the second the rule was made is covered', { kind: 'all' }, { issuedAt: addSeconds(T0, 3600) }, true],
    ['fail/a leaf issued after the rule is not covered (its renewal)', { kind: 'all' }, { issuedAt: addSeconds(T0, 3601) }, false],
    ['ok/serial covers that serial', { kind: 'serial', serial: '4a' }, {}, true],
    ['fail/serial covers no other', { kind: 'serial', serial: '4b' }, {}, false],
    ['ok/identity covers a matching SPIFFE ID', { kind: 'identity', pattern: 'spiffe:spiffe://acme.internal/ns/prod/*' }, {}, true],
    ['ok/identity covers a matching DNS name', { kind: 'identity', pattern: 'dns:*.acme.internal' }, {}, true],
    ['ok/identity covers an address in a range', { kind: 'identity', pattern: 'ip:10.0.0.0/8' }, {}, true],
    ['fail/identity covers no other', { kind: 'identity', pattern: 'spiffe:spiffe://acme.internal/ns/dev/**' }, {}, false],
    ['ok/issued-before covers a leaf signed earlier', { kind: 'issued-before', before: addSeconds(T0, 1) }, {}, true],
    ['fail/issued-before covers no leaf signed at or after it', { kind: 'issued-before', before: T0 }, {}, false],
    ['fail/a rule never covers a CA certificate', { kind: 'all' }, { kind: 'intermediate' }, false],
  ])('%s', (_name, selector, over, expected) => {
    expect(adviceApplies(rule(1, selector, 3600), leaf(over))).toBe(expected);
  });

  it('ok/no rule: the default window', () => {
    expect(renewalWindowFor(leaf(), [rule(1, { kind: 'serial', serial: '99' }, 60)])).toEqual(defaultRenewalWindow(leaf()));
  });

  it('ok/a covering rule sets the window, with its explanation', () => {
    expect(renewalWindowFor(leaf(), [rule(7, { kind: 'all' }, 3600, 600, 'https://status.acme.internal/x')])).toEqual({ start: addSeconds(T0, 3600), end: addSeconds(T0, 4200), explanationUrl: 'https://status.acme.internal/x', adviceId: 7 });
  });

  it('ok/of several covering rules, the window that ends first wins (a newer, urgent rule beats an older, long one)', () => {
    const old = rule(1, { kind: 'all' }, 600, 6 * 3600);
    const urgent = rule(2, { kind: 'identity', pattern: 'dns:api.acme.internal' }, 3600, 60);
    expect(renewalWindowFor(leaf(), [old, urgent])).toMatchObject({ start: addSeconds(T0, 3600), end: addSeconds(T0, 3660), adviceId: 2 });
  });

  it('ok/a rule never delays renewal past the default window', () => {
    // Made at 17h with a week to go: the default window (16h-20h) ends first.
    expect(renewalWindowFor(leaf(), [rule(1, { kind: 'all' }, 17 * 3600, 7 * 86400)])).toEqual(defaultRenewalWindow(leaf()));
  });

  it('ok/every window ends by notAfter and starts no later than it ends', () => {
    const short = leaf({ notAfter: addSeconds(T0, 3630) });
    // A rule made after the default window (2420-3025) with 10 minutes: clamped to end at notAfter, later than the default's end.
    expect(renewalWindowFor(short, [rule(1, { kind: 'all' }, 3600, 600)])).toMatchObject({ start: addSeconds(T0, 2420), end: addSeconds(T0, 3025), adviceId: null });
    // A rule made after the leaf expired.
    for (const w of [renewalWindowFor(short, [rule(2, { kind: 'all' }, 4000, 60)]), renewalWindowFor(leaf({ notAfter: addSeconds(T0, 2) }), [rule(3, { kind: 'all' }, 0, 600)])]) {
      expect(w.start.getTime()).toBeLessThanOrEqual(w.end.getTime());
      expect(w.end.getTime()).toBeLessThanOrEqual(short.notAfter.getTime());
    }
  });

  it.each<[string, number, number, number]>([
    ['ok/a 24th of the lifetime', 86400, 0, 3600],
    ['ok/at least a minute', 600, 0, 60],
    ['ok/at most 6 hours', 30 * 86400, 0, 6 * 3600],
    ['ok/never past the window start', 86400, 16 * 3600 - 90, 90],
    ['ok/inside the window: the plain period', 86400, 17 * 3600, 3600],
  ])('%s', (_name, lifetime, nowOffset, expected) => {
    const record = leaf({ notAfter: addSeconds(T0, lifetime) });
    expect(renewalPollSeconds(record, defaultRenewalWindow(record), addSeconds(T0, nowOffset))).toBe(expected);
  });

  it.each([
    ['ok/UTC', '2026-06-15T12:00:00Z', '2026-06-15T12:00:00.000Z'],
    ['ok/an offset, no seconds', '2026-06-15T14:00+02:00', '2026-06-15T12:00:00.000Z'],
  ])('%s', (_name, text, iso) => expect(parseIssuedBefore(text).toISOString()).toBe(iso));

  it.each(['2026-06-15', '2026-06-15T12:00:00', 'yesterday', '2026-13-45T99:00:00Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-06-15T24:00:00Z'])('fail/issued-before %s', (text) => {
    expect(() => parseIssuedBefore(text)).toThrow(expect.objectContaining({ code: 'ERR_ADVICE_INVALID' }));
  });
});

describe.each(BACKENDS)('%s', (backend) => {
  it('ok/rules round-trip through the store, in id order, with their audit rows', async () => {
    const store = await testStore(backend);
    const selectors: AdviceSelector[] = [{ kind: 'serial', serial: '4a' }, { kind: 'identity', pattern: 'dns:*.acme.internal' }, { kind: 'issued-before', before: T0 }, { kind: 'all' }];
    const stored: RenewalAdvice[] = [];
    for (const [i, selector] of selectors.entries()) {
      const { id: _id, ...advice } = rule(0, selector, i * 3600, 600, i === 0 ? 'https://status.acme.internal/1' : null);
      stored.push(await store.recordRenewalAdvice(advice, { at: advice.createdAt, actor: 'local:test', action: 'renew-now', target: null, outcome: 'ok' }));
    }
    expect(stored.map((a) => a.id)).toEqual([1, 2, 3, 4]);
    expect(await store.renewalAdviceSince(0, 100)).toEqual(stored);
    expect(await store.renewalAdviceSince(2, 1)).toEqual([stored[2]]);
    expect(await store.activeRenewalAdvice(addSeconds(T0, 3600))).toEqual(stored.slice(1));
    const audit = (await store.auditLog()).filter((r) => r.action === 'renew-now');
    expect(audit.map((r) => r.detail?.adviceId)).toEqual([1, 2, 3, 4]);
    expect((await store.verifyAuditChain()).ok).toBe(true);
  });

  describe('Authority renew-now and renewal-info', () => {
    it('ok/renew-now moves the window of the leaves issued before it, not of their renewals', async () => {
      const { authority, clock } = await createTestCa({ backend });
      const prod = await authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/ns/prod/api', key: key() }, operator);
      const dev = await authority.issue({ commonName: 'dev', spiffeId: 'spiffe://acme.internal/ns/dev/api', key: key() }, operator);
      const before = await authority.renewalInfo(prod.serial);
      // notBefore is backdated a minute; the window counts from when it was signed (T0), over 24 hours.
      expect(before.window).toEqual({ start: addSeconds(T0, 16 * 3600), end: addSeconds(T0, 20 * 3600), explanationUrl: null, adviceId: null });
      expect(before.retryAfterSeconds).toBe(3602);

      clock.set(addSeconds(T0, 3600));
      const { advice, matching } = await authority.adviseRenewal({ kind: 'identity', pattern: 'spiffe://acme.internal/ns/prod/**' }, 600, operator, 'https://status.acme.internal/rotate');
      expect(advice.selector).toEqual({ kind: 'identity', pattern: 'spiffe:spiffe://acme.internal/ns/prod/**' });
      expect(matching).toBe(1);
      const moved = await authority.renewalInfo(prod.serial);
      expect(moved.window).toEqual({ start: addSeconds(T0, 3600), end: addSeconds(T0, 4200), explanationUrl: 'https://status.acme.internal/rotate', adviceId: advice.id });
      expect(moved.retryAfterSeconds).toBe(3602);
      expect((await authority.renewalInfo(dev.serial)).window.adviceId).toBeNull();

      clock.set(addSeconds(T0, 3700));
      const renewed = await authority.renew(prod.der, undefined, operator);
      expect((await authority.renewalInfo(renewed.serial)).window.adviceId).toBeNull();
    });

    it('ok/matching counts unexpired, unrevoked leaves, not the CA service\'s own', async () => {
      const { authority, clock } = await createTestCa({ backend });
      const a = await authority.issue({ commonName: 'a', dnsNames: ['a.acme.internal'], key: key() }, operator);
      await authority.issue({ commonName: 'b', dnsNames: ['b.acme.internal'], key: key() }, operator);
      const revoked = await authority.issue({ commonName: 'c', dnsNames: ['c.acme.internal'], key: key() }, operator);
      await authority.revoke(revoked.serial, 'superseded', operator);
      await authority.issueCaServiceLeaf(key().spki, { dnsNames: ['ca.acme.internal'], ipAddresses: [] }, operator);
      clock.set(addSeconds(T0, 60));
      await authority.issue({ commonName: 'later', dnsNames: ['later.acme.internal'], key: key() }, operator);
      expect((await authority.adviseRenewal({ kind: 'all' }, 600, operator)).matching).toBe(3);
      expect((await authority.adviseRenewal({ kind: 'issued-before', before: addSeconds(T0, 30) }, 600, operator)).matching).toBe(2);
      expect((await authority.adviseRenewal({ kind: 'identity', pattern: 'dns:*.acme.internal' }, 600, operator)).matching).toBe(3);
      expect((await authority.adviseRenewal({ kind: 'serial', serial: a.serial.toUpperCase() }, 600, operator))).toMatchObject({ matching: 1, advice: { selector: { kind: 'serial', serial: a.serial } } });
      expect((await authority.adviseRenewal({ kind: 'serial', serial: revoked.serial }, 600, operator)).matching).toBe(0);
    });

    it('ok/renew-now is audited', async () => {
      const { authority, store } = await createTestCa({ backend });
      const { advice } = await authority.adviseRenewal({ kind: 'all' }, 60, operator);
      expect((await store.auditLog()).at(-1)).toMatchObject({ actor: 'local:test', action: 'renew-now', outcome: 'ok', detail: { selector: { all: true }, windowEnd: addSeconds(T0, 60).toISOString(), adviceId: advice.id } });
    });

    it.each<[string, AdviceSelector, number, string | undefined, string]>([
      ['fail/unknown serial', { kind: 'serial', serial: '4abc' }, 600, undefined, 'ERR_CERTIFICATE_NOT_FOUND'],
      ['fail/invalid pattern', { kind: 'identity', pattern: 'dns:a..b' }, 600, undefined, 'ERR_PATTERN_INVALID'],
      ['fail/empty pattern', { kind: 'identity', pattern: ' ' }, 600, undefined, 'ERR_PATTERN_INVALID'],
      ['fail/window too long', { kind: 'all' }, 7 * 86400 + 1, undefined, 'ERR_ADVICE_INVALID'],
      ['fail/window zero', { kind: 'all' }, 0, undefined, 'ERR_ADVICE_INVALID'],
      ['fail/explanation URL not http(s)', { kind: 'all' }, 600, 'javascript:alert(1)', 'ERR_ADVICE_INVALID'],
      ['fail/explanation URL not a URL', { kind: 'all' }, 600, 'status page', 'ERR_ADVICE_INVALID'],
      ['fail/explanation URL with a leading space', { kind: 'all' }, 600, ' https://status.acme.internal/', 'ERR_ADVICE_INVALID'],
      ['fail/explanation URL with credentials', { kind: 'all' }, 600, 'https://user:pass@status.acme.internal/', 'ERR_ADVICE_INVALID'],
      ['fail/explanation URL with a bidi override', { kind: 'all' }, 600, 'https://status.acme.internal/\u202egnp.exe', 'ERR_ADVICE_INVALID'],
    ])('%s', async (_name, selector, within, url, code) => {
      const { authority, store } = await createTestCa({ backend });
      await expect(authority.adviseRenewal(selector, within, operator, url)).rejects.toMatchObject({ code });
      expect(await store.renewalAdviceSince(0, 10)).toEqual([]);
    });

    it.each([['fail/unknown serial', '4abc'], ['fail/not a serial', 'xyz']])('%s: renewal-info', async (_name, serial) => {
      const { authority } = await createTestCa({ backend });
      await expect(authority.renewalInfo(serial)).rejects.toMatchObject({ code: 'ERR_CERTIFICATE_NOT_FOUND' });
    });

    it('ok/an explanation URL is stored normalized; a revoked leaf is due at once (a window in the past, at its revocation)', async () => {
      const { authority, clock } = await createTestCa({ backend });
      const r = await authority.adviseRenewal({ kind: 'all' }, 600, operator, 'HTTPS://Status.Acme.Internal/a b'.replace(' ', '%20'));
      expect(r.advice.explanationUrl).toBe('https://status.acme.internal/a%20b');
      const leaf = await authority.issue({ commonName: 'gone', spiffeId: 'spiffe://acme.internal/gone', key: key() }, operator);
      clock.set(addSeconds(T0, 120));
      await authority.revoke(leaf.serial, 'superseded', operator);
      const info = await authority.renewalInfo(leaf.serial);
      expect(info.window).toMatchObject({ start: addSeconds(T0, 120), end: addSeconds(T0, 120) });
      expect(parseIssuedBefore('2028-02-29T00:00:00Z')).toEqual(new Date('2028-02-29T00:00:00Z'));
    });

    it('fail/renewal-info of the intermediate', async () => {
      const { authority } = await createTestCa({ backend });
      await expect(authority.renewalInfo(authority.intermediate.certificate.serial)).rejects.toMatchObject({ code: 'ERR_CERTIFICATE_NOT_FOUND' });
    });
  });
});
