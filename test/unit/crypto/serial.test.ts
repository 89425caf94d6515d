import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unsignedInteger } from '../../../src/crypto/der.js';
import { normalizeSerial, randomSerial, serialToHex } from '../../../src/crypto/serial.js';

describe('serials', () => {
  it('ok/positive, 16 bytes, minimal DER, never repeated in 20,000 draws', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const s = randomSerial();
      expect(s.length).toBe(16);
      expect(s[0]! & 0x80).toBe(0);
      expect(s[0]! & 0x40).toBe(0x40);
      expect(unsignedInteger(s).subarray(0, 3).toString('hex')).toBe(`0210${s.subarray(0, 1).toString('hex')}`);
      seen.add(serialToHex(s));
    }
    expect(seen.size).toBe(20_000);
  });

  it.each([
    ['0A:1B', '0a1b'],
    ['0x0a1b', '0a1b'],
    ['a1b', '0a1b'],
    ['000a1b', '0a1b'],
    ['  7F ', '7f'],
  ])('ok/normalize %j → %s', (text, hex) => expect(normalizeSerial(text)).toBe(hex));

  it.each(['', 'xyz', '12-34', 'a'.repeat(41)])('fail/normalize %j', (text) => expect(normalizeSerial(text)).toBeNull());

  it('ok/normalize agrees with serialToHex for any magnitude', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), (bytes) => {
        const b = Buffer.from(bytes);
        expect(normalizeSerial(b.toString('hex'))).toBe(serialToHex(b));
      }),
    );
  });
});
