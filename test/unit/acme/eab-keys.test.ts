import { describe, expect, it } from 'vitest';
import { eabSealingKey, newEabCredentials, openEabKey, sealEabKey } from '../../../src/acme/eab-keys.js';

describe('EAB keys at rest', () => {
  const sealing = eabSealingKey(Buffer.alloc(32, 7));
  it('ok/no key id or HMAC key, as a client is given them, starts with "-" (certbot would read it as an option)', () => {
    // A generator that did not avoid it would start one key in 64 with "-": 3,000 keys miss it with odds of 1e-21.
    const texts = Array.from({ length: 3000 }, () => newEabCredentials()).flatMap((c) => [c.kid, c.hmacKey.toString('base64url')]);
    expect(texts.filter((t) => t.startsWith('-'))).toEqual([]);
    expect(new Set(texts.map((t) => t[0])).size).toBeGreaterThan(40);
  });

  it('ok/sealed and opened again; fresh ids and keys each time', () => {
    const a = newEabCredentials();
    expect(a.kid).toMatch(/^eab_[A-Za-z0-9_-]{16}$/);
    expect(a.hmacKey).toHaveLength(32);
    expect(newEabCredentials().kid).not.toBe(a.kid);
    const sealed = sealEabKey(sealing, a.kid, a.hmacKey);
    expect(sealed.includes(a.hmacKey)).toBe(false);
    expect(openEabKey(sealing, a.kid, sealed)).toEqual(a.hmacKey);
  });

  it.each([
    ['fail/another key id', (s: Buffer, kid: string) => openEabKey(sealing, `${kid}x`, s)],
    ['fail/another CA', (s: Buffer, kid: string) => openEabKey(eabSealingKey(Buffer.alloc(32, 8)), kid, s)],
    ['fail/one bit changed', (s: Buffer, kid: string) => openEabKey(sealing, kid, Buffer.from(s.map((b, i) => (i === s.length - 1 ? b ^ 1 : b))))],
  ])('%s', (_n, open) => {
    const a = newEabCredentials();
    expect(() => open(sealEabKey(sealing, a.kid, a.hmacKey), a.kid)).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }));
  });
});
