import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tag, children, oid, oidToString, readElement, readTime, seq, smallInteger, time, tlv } from '../../../src/crypto/der.js';
import { x509 } from '../../../src/crypto/x509.js';
import { AsnConvert, AsnIntegerConverter } from '@peculiar/asn1-schema';

describe('der writer', () => {
  it.each([
    ['ok/UTCTime before 2050', '2049-12-31T23:59:59Z', Tag.UTC_TIME, '491231235959Z'],
    ['ok/GeneralizedTime from 2050', '2050-01-01T00:00:00Z', Tag.GENERALIZED_TIME, '20500101000000Z'],
    ['ok/UTCTime from 1950', '1950-01-01T00:00:00Z', Tag.UTC_TIME, '500101000000Z'],
  ])('%s', (_n, iso, tag, text) => {
    const der = time(new Date(iso));
    expect(der[0]).toBe(tag);
    expect(der.subarray(2).toString('ascii')).toBe(text);
    expect(readTime(readElement(der)).toISOString()).toBe(new Date(iso).toISOString());
  });

  it('ok/long lengths use the minimal long form', () => {
    expect(tlv(Tag.OCTET_STRING, Buffer.alloc(127)).subarray(0, 2).toString('hex')).toBe('047f');
    expect(tlv(Tag.OCTET_STRING, Buffer.alloc(128)).subarray(0, 3).toString('hex')).toBe('048180');
    expect(tlv(Tag.OCTET_STRING, Buffer.alloc(70000)).subarray(0, 5).toString('hex')).toBe('0483011170');
  });

  it('ok/OIDs match the asn1 library encoding and round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { maxLength: 8 }), (a, b, rest) => {
        const dotted = [a, b, ...rest].join('.');
        const der = oid(dotted);
        expect(oidToString(readElement(der).value)).toBe(dotted);
        expect(Buffer.from(new x509.Extension(dotted, false, new Uint8Array([5, 0])).rawData).includes(der)).toBe(true);
      }),
    );
  });

  it('ok/small integers match the asn1 library', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65535, 2 ** 40]) {
      const theirs = Buffer.from(AsnConvert.serialize(AsnIntegerConverter.toASN(n)));
      expect(smallInteger(n).toString('hex')).toBe(theirs.toString('hex'));
    }
  });
});

describe('der reader', () => {
  it.each([
    ['fail/truncated', '3005020101'],
    ['fail/indefinite length', '3080020101 0000'],
    ['fail/non-minimal length', '30810302 0101'],
    ['fail/length overflows', '3084ffffffff'],
    ['fail/empty', ''],
  ])('%s', (_n, hex) => {
    expect(() => readElement(Buffer.from(hex.replace(/ /g, ''), 'hex'))).toThrow(expect.objectContaining({ code: 'ERR_DER_INVALID' }));
  });

  it('ok/children of a sequence', () => {
    const s = seq(smallInteger(1), smallInteger(2));
    expect(children(readElement(s).value).map((c) => c.value[0])).toEqual([1, 2]);
  });

  it('never throws anything but ERR_DER_INVALID on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const el = readElement(Buffer.from(bytes));
          if (el.tag & 0x20) children(el.value);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ERR_DER_INVALID');
        }
      }),
    );
  });
});
